/** The Temporal SDK's logs through chatd's JSON logger (src/temporal/runtime.ts). */
import { Writable } from 'node:stream';
import pino from 'pino';
import { coreLogLevel, freeLoopbackPort, PinoTemporalLogger } from '../../../src/temporal/runtime';

function capture(level = 'trace'): { lines: Array<Record<string, unknown>>; logger: pino.Logger } {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: pino({ level }, sink) };
}

describe('PinoTemporalLogger', () => {
  it("writes the SDK's lines as JSON with its metadata, errors as err, and the pino level", () => {
    const { lines, logger } = capture();
    const sdk = new PinoTemporalLogger(logger);
    sdk.info('Worker state changed', {
      sdkComponent: 'worker',
      taskQueue: 'chatd',
      state: 'RUNNING',
      [Symbol.for('log_timestamp')]: 123n,
      spanContexts: [],
    });
    sdk.warn('Activity failed', { error: new Error('boom'), attempt: 2, nanos: 5n });
    sdk.log('ERROR', 'core says no', { target: 'temporal_sdk_core' });
    sdk.trace('fine detail');

    expect(lines).toHaveLength(4);
    expect(lines[0]).toMatchObject({
      level: 30,
      msg: 'Worker state changed',
      sdkComponent: 'worker',
      taskQueue: 'chatd',
      state: 'RUNNING',
    });
    expect(lines[0]).not.toHaveProperty('spanContexts');
    expect(lines[1]).toMatchObject({
      level: 40,
      msg: 'Activity failed',
      attempt: 2,
      nanos: '5',
      err: { message: 'boom' },
    });
    expect(lines[2]).toMatchObject({ level: 50, msg: 'core says no', target: 'temporal_sdk_core' });
    expect(lines[3]).toMatchObject({ level: 10, msg: 'fine detail' });
  });

  it("follows the logger's level", () => {
    const { lines, logger } = capture('warn');
    const sdk = new PinoTemporalLogger(logger);
    sdk.info('quiet');
    sdk.error('loud');
    expect(lines.map((l) => l.msg)).toEqual(['loud']);
  });
});

describe('coreLogLevel', () => {
  it("keeps core's INFO chatter out at info, and opens up for debug and trace", () => {
    expect(coreLogLevel('info')).toBe('WARN');
    expect(coreLogLevel('warn')).toBe('WARN');
    expect(coreLogLevel('debug')).toBe('DEBUG');
    expect(coreLogLevel('trace')).toBe('TRACE');
    expect(coreLogLevel('silent')).toBe('ERROR');
  });
});

describe('freeLoopbackPort', () => {
  it('finds a port', async () => {
    const port = await freeLoopbackPort();
    expect(port).toBeGreaterThan(0);
    expect(port).toBeLessThan(65536);
  });
});
