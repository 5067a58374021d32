/**
 * The baseline client: the same load generator streaming straight from the fake LLM (OpenAI Chat
 * Completions over SSE, as chatd's worker calls it), so chatd's added latency is its own figure minus
 * this one. Records time to first token, every token stamp's delivery latency and the total time.
 */
import * as http from 'node:http';
import { stampsIn } from './sse';
import { nowMs } from './stats';

export interface DirectResult {
  /** Request sent → first content delta, ms. */
  ttftMs: number | null;
  /** Request sent → stream end, ms. */
  totalMs: number;
  /** Per token stamp: arrival − stamp, ms. */
  stampLatencies: number[];
  /** Arrival times of every content delta. */
  arrivals: number[];
  tokens: number;
  sentAt: number;
}

/** Streams one completion of `model` from the fake at `openaiBaseUrl` (`…/v1`). */
export function streamDirect(openaiBaseUrl: string, model: string, agent?: http.Agent): Promise<DirectResult> {
  const body = JSON.stringify({
    model,
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'benchmark baseline' }],
  });
  const sentAt = nowMs();
  return new Promise<DirectResult>((resolve, reject) => {
    const result: DirectResult = { ttftMs: null, totalMs: 0, stampLatencies: [], arrivals: [], tokens: 0, sentAt };
    const req = http.request(
      `${openaiBaseUrl}/chat/completions`,
      {
        method: 'POST',
        agent: agent ?? false,
        headers: { 'Content-Type': 'application/json', Authorization: 'Bearer bench' },
      },
      (res) => {
        res.setEncoding('utf8');
        let buffer = '';
        res.on('data', (chunk: string) => {
          const at = nowMs();
          buffer += chunk;
          let nl: number;
          while ((nl = buffer.indexOf('\n')) >= 0) {
            const line = buffer.slice(0, nl).trim();
            buffer = buffer.slice(nl + 1);
            if (!line.startsWith('data:')) continue;
            const data = line.slice(5).trim();
            if (data === '[DONE]') continue;
            const parsed = JSON.parse(data) as { choices?: Array<{ delta?: { content?: string } }> };
            const content = parsed.choices?.[0]?.delta?.content;
            if (!content) continue;
            if (result.ttftMs === null) result.ttftMs = at - sentAt;
            result.arrivals.push(at);
            const stamps = stampsIn(content);
            result.tokens += Math.max(1, stamps.length);
            for (const stamp of stamps) result.stampLatencies.push(at - stamp);
          }
        });
        res.on('end', () => {
          result.totalMs = nowMs() - sentAt;
          resolve(result);
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
