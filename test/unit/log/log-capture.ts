/** A pino destination that keeps every line, parsed, and lets a test wait for one. */
import { Writable } from 'node:stream';

export class LogCapture extends Writable {
  readonly lines: Array<Record<string, any>> = [];
  private waiters: Array<{
    match: (line: Record<string, any>) => boolean;
    resolve: (line: Record<string, any>) => void;
  }> = [];

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    for (const text of chunk.toString().split('\n').filter(Boolean)) {
      const line = JSON.parse(text) as Record<string, any>;
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => !(w.match(line) && (w.resolve(line), true)));
    }
    done();
  }

  /** The first line (already written or still to come) that `match` accepts. */
  waitFor(match: (line: Record<string, any>) => boolean): Promise<Record<string, any>> {
    const found = this.lines.find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => this.waiters.push({ match, resolve }));
  }
}
