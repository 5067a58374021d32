/**
 * Bench scenario S11's passthrough peer path at tiny scale (README "Peers"): the peer process
 * (bench/peers/passthrough.ts) is spawned as S11 spawns it, against an in-process fake LLM, and
 * driven through the one load-generator interface (bench/lib/peer-driver.ts): a turn streams the
 * fake's answer as deltas, the fake accepts the SDK's request, and a kill -9 mid-turn loses the turn
 * with no repeated provider call. The Python peers are not installed by `npm test`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PeerSystem } from '../../bench/lib/peer-driver';
import { measureCrash } from '../../bench/lib/peer-measures';
import { healthy, loopbackPort, PEERS_DIR, PeerProcess } from '../../bench/lib/peer-procs';
import { REPO_ROOT } from '../../bench/lib/stack';
import { stampsIn } from '../../bench/lib/sse';
import { createKnobResponder, DEMO_KNOBS, FakeLlmServer } from '../../src/dev/fake-llm';

describe('bench peers: the passthrough peer', () => {
  let fake: FakeLlmServer;
  let proc: PeerProcess;
  let system: PeerSystem;
  let workDir: string;

  beforeAll(async () => {
    workDir = mkdtempSync(path.join(os.tmpdir(), 'chatd-peers-'));
    fake = await FakeLlmServer.start({ fallback: createKnobResponder({ ...DEMO_KNOBS, ttft: 0, tps: 0 }) });
    const { port, url } = await loopbackPort();
    proc = new PeerProcess(
      {
        name: 'passthrough',
        command: process.execPath,
        args: ['--import', 'tsx', path.join(PEERS_DIR, 'passthrough.ts')],
        cwd: REPO_ROOT,
        env: { PEER_PORT: String(port), OPENAI_BASE_URL: fake.openaiBaseUrl, OPENAI_API_KEY: 'test' },
        ready: healthy(url),
      },
      workDir,
    );
    await proc.start();
    system = new PeerSystem('passthrough', url);
  });

  afterAll(async () => {
    system?.close();
    await proc?.stop();
    await fake?.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  it('streams a turn as deltas and ends with the full answer', async () => {
    const thread = await system.newThread({ ttft: 0, tps: 0, tokens: 5 });
    const r = await system.turn(thread, 'second', { ttft: 0, tps: 0, tokens: 12, ts: true });
    expect(r.ok).toBe(true);
    expect(stampsIn(r.text)).toHaveLength(12);
    expect(r.deltas.length).toBeGreaterThan(1);
    expect(r.deltas.map((d) => d.text).join('')).toBe(r.text);
    expect(r.ttftMs).not.toBeNull();
    expect(await system.storedAnswers(thread)).toBe(0);
    expect(fake.rejected).toEqual([]);
    const last = fake.requests[fake.requests.length - 1]!;
    expect(last.headers['x-chatd-chat-id']).toBe(thread);
    expect(last.model).toBe('fake?ttft=0&tps=0&tokens=12&ts=1');
  });

  it('loses a turn when its server is killed mid-answer, and repeats no provider call', async () => {
    const crash = await measureCrash(system, {
      threads: 2,
      knobs: { ttft: 0, tps: 20, tokens: 40, ts: true },
      fakeUrl: fake.url,
      kill: async () => {
        await proc.kill9();
        await proc.start();
        return 0;
      },
      killAfterMs: 500,
      waitMs: 5000,
    });
    expect(crash).toMatchObject({ turns: 2, completed: 0, lost: 2, repeated_llm_calls: 0, never_resumed: 2 });
    // The peer serves again after its restart.
    const thread = await system.newThread({ ttft: 0, tps: 0, tokens: 3 });
    expect(thread).toMatch(/^passthrough-/);
  }, 60_000);
});
