/** The process logger (pino, JSON lines). Created once in src/main/* and passed down. */
import pino, { type Logger } from 'pino';

export function createLogger(level: string, name: string): Logger {
  return pino({ name, level, redact: ['*.apiKey', '*.api_key', 'req.headers.authorization'] });
}
