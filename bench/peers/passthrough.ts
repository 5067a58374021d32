/**
 * The floor of bench scenario S11: no store, no queue, no retries. `POST /turn` streams one Chat
 * Completion through the `openai` SDK and pipes each content delta to the client as an SSE frame of
 * the peers' protocol (README "Peers"); `GET /healthz` answers 200. A crash loses the turn.
 *
 * Body: `{thread_id, message, model?}` (model overrides PEER_MODEL). Env: PEER_PORT, OPENAI_BASE_URL, OPENAI_API_KEY, PEER_MODEL.
 */
import * as http from 'node:http';
import OpenAI from 'openai';

const port = Number(process.env.PEER_PORT ?? 0);
const model = process.env.PEER_MODEL ?? 'fake';
const client = new OpenAI({
  baseURL: process.env.OPENAI_BASE_URL,
  apiKey: process.env.OPENAI_API_KEY ?? 'peer',
  maxRetries: 0,
});

function frame(res: http.ServerResponse, data: Record<string, unknown>): void {
  res.write(`data: ${JSON.stringify(data)}\n\n`);
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
}

async function turn(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const body = await readJson(req);
  const threadId = String(body.thread_id ?? '');
  const message = String(body.message ?? '');
  // The bench may pick the fake's knobs per turn; PEER_MODEL is the default.
  const turnModel = typeof body.model === 'string' ? body.model : model;
  res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
  const abort = new AbortController();
  res.on('close', () => abort.abort());
  let text = '';
  try {
    const stream = await client.chat.completions.create(
      { model: turnModel, stream: true, messages: [{ role: 'user', content: message }] },
      // The thread id lets the bench count provider calls per turn (the fake records headers).
      { signal: abort.signal, headers: { 'X-Chatd-Chat-Id': threadId } },
    );
    for await (const chunk of stream) {
      const delta = chunk.choices[0]?.delta?.content;
      if (!delta) continue;
      text += delta;
      frame(res, { type: 'delta', text: delta });
    }
    frame(res, { type: 'done', text });
  } catch (err) {
    frame(res, { type: 'error', message: (err as Error).message });
  }
  res.end();
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/healthz') {
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
    return;
  }
  if (req.method === 'GET' && req.url?.startsWith('/thread/')) {
    // Nothing is stored: a turn's answer exists only in the client that streamed it.
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ stored_answers: 0 }));
    return;
  }
  if (req.method === 'POST' && req.url === '/turn') {
    turn(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end(String(err));
    });
    return;
  }
  res.writeHead(404).end();
});
server.keepAliveTimeout = 60_000;
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(
    `passthrough peer listening on ${typeof address === 'object' && address ? address.port : port}\n`,
  );
});
