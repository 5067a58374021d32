/**
 * chatd's configuration: one zod schema over the environment, validated once at boot. Only
 * src/main/* calls parseConfig(process.env); everything else receives the frozen Config.
 */
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

/** Documented in README.md ("Configuration"); keep the two in sync. */
export const configSchema = z.object({
  CHATD_HTTP_HOST: z.string().default('127.0.0.1'),
  CHATD_HTTP_PORT: port.default(8080),
  DATABASE_URL: optionalString.pipe(z.url({ protocol: /^postgres(ql)?$/ }).optional()),
  CHATD_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  CHATD_TASK_QUEUE: z.string().min(1).default('chatd'),
  CHATD_WORKER_MAX_ACTIVITIES: z.coerce.number().int().min(1).max(100_000).default(1000),
  CHATD_DATA_DIR: z.string().min(1).default('.data'),
  CHATD_BOOTSTRAP_ADMIN_TOKEN: optionalString.pipe(z.string().min(16).optional()),
  CHATD_ENCRYPTION_KEYS: optionalString,
  CHATD_STREAM_BUS: z.enum(['memory', 'postgres']).optional(),
  CHATD_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  CHATD_MAX_STEPS: z.coerce.number().int().min(1).max(10_000).default(1200),
  CHATD_MAX_MESSAGE_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  CHATD_DEFAULT_MODEL: optionalString.pipe(
    z
      .string()
      .regex(/^(openai|anthropic|openai-compat):.+$/, 'expected <provider>:<model>, e.g. openai:gpt-4o-mini')
      .optional(),
  ),
  OPENAI_API_KEY: optionalString,
  OPENAI_BASE_URL: optionalString.pipe(z.url().optional()),
  ANTHROPIC_API_KEY: optionalString,
  ANTHROPIC_BASE_URL: optionalString.pipe(z.url().optional()),
  TEMPORAL_CLI_PATH: optionalString,
  CHATD_TEMPORAL_PORT: port.default(7233),
  CHATD_TEMPORAL_UI_PORT: port.default(8233),
});

type RawConfig = z.infer<typeof configSchema>;

export interface Config {
  http: { host: string; port: number };
  databaseUrl: string | undefined;
  dbPoolSize: number;
  temporal: { address: string | undefined; namespace: string; taskQueue: string };
  /** Activities one worker runs at once; a streaming model step holds one for the whole answer. */
  workerMaxActivities: number;
  dataDir: string;
  bootstrapAdminToken: string | undefined;
  encryptionKeys: string | undefined;
  streamBus: 'memory' | 'postgres' | undefined;
  logLevel: RawConfig['CHATD_LOG_LEVEL'];
  maxSteps: number;
  maxMessageBytes: number;
  defaultModel: string | undefined;
  presets: {
    openai: { apiKey: string | undefined; baseUrl: string | undefined };
    anthropic: { apiKey: string | undefined; baseUrl: string | undefined };
  };
  dev: { temporalCliPath: string | undefined; temporalPort: number; temporalUiPort: number };
}

/** Thrown when the environment is invalid; `message` lists every bad variable at once. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration:\n${issues.map((i) => `  - ${i}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Validates the environment. Throws ConfigError naming every invalid variable. */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  return Object.freeze({
    http: { host: e.CHATD_HTTP_HOST, port: e.CHATD_HTTP_PORT },
    databaseUrl: e.DATABASE_URL,
    dbPoolSize: e.CHATD_DB_POOL_SIZE,
    temporal: { address: e.TEMPORAL_ADDRESS, namespace: e.TEMPORAL_NAMESPACE, taskQueue: e.CHATD_TASK_QUEUE },
    workerMaxActivities: e.CHATD_WORKER_MAX_ACTIVITIES,
    dataDir: e.CHATD_DATA_DIR,
    bootstrapAdminToken: e.CHATD_BOOTSTRAP_ADMIN_TOKEN,
    encryptionKeys: e.CHATD_ENCRYPTION_KEYS,
    streamBus: e.CHATD_STREAM_BUS,
    logLevel: e.CHATD_LOG_LEVEL,
    maxSteps: e.CHATD_MAX_STEPS,
    maxMessageBytes: e.CHATD_MAX_MESSAGE_BYTES,
    defaultModel: e.CHATD_DEFAULT_MODEL,
    presets: {
      openai: { apiKey: e.OPENAI_API_KEY, baseUrl: e.OPENAI_BASE_URL },
      anthropic: { apiKey: e.ANTHROPIC_API_KEY, baseUrl: e.ANTHROPIC_BASE_URL },
    },
    dev: {
      temporalCliPath: e.TEMPORAL_CLI_PATH,
      temporalPort: e.CHATD_TEMPORAL_PORT,
      temporalUiPort: e.CHATD_TEMPORAL_UI_PORT,
    },
  });
}
