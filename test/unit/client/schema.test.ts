/**
 * The committed client types (src/client/schema.d.ts) must be what `npm run generate:client` makes
 * of the current OpenAPI document, and the README's client example must be the file tsc compiles.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';

const root = path.join(__dirname, '../../..');

/** What `npm run generate:client` would write now (the script, in a child process: see its header). */
async function generated(): Promise<string> {
  const tsx = path.join(root, 'node_modules/.bin/tsx');
  const { stdout } = await promisify(execFile)(tsx, ['scripts/generate-client.ts', '--stdout'], {
    cwd: root,
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

describe('the generated client', () => {
  it('is up to date with the OpenAPI document (run `npm run generate:client` when this fails)', async () => {
    const committed = readFileSync(path.join(root, 'src/client/schema.d.ts'), 'utf8');
    const fresh = await generated();
    expect(fresh).toContain('createChat: {');
    expect(committed === fresh).toBe(true);
  });

  it('is shown in the README exactly as src/client/example.ts, which tsc checks', () => {
    const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('\n## Client\n'));
    const snippet = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(snippet).toBe(readFileSync(path.join(root, 'src/client/example.ts'), 'utf8'));
  });
});
