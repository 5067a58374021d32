/**
 * AGENTS.md from a real local workspace becomes the model's workspace-context block: comments
 * stripped, CRLF normalised, capped at 64 KiB without splitting a character.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatWorkspaceContext, loadInstructionFile, MAX_INSTRUCTION_BYTES } from '../../../src/turn/instructions';
import { LocalWorkspaceProvider } from '../../../src/workspaces/local.provider';
import type { Workspace } from '../../../src/workspaces/types';

describe('instruction files', () => {
  let dir: string;
  let provider: LocalWorkspaceProvider;
  let workspace: Workspace;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'chatd-instructions-'));
    provider = new LocalWorkspaceProvider({ baseDir: dir, env: { PATH: '/usr/bin:/bin' } });
    const info = await provider.create({ templateId: 'empty' });
    workspace = await provider.connect(info.id);
  });
  afterAll(async () => {
    await provider?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads Agents.md in any letter case, strips HTML comments and normalises line endings', async () => {
    writeFileSync(
      path.join(workspace.root, 'Agents.md'),
      'Use pnpm.\r\n<!-- internal note -->\r\nRun tests first.\r\n',
    );
    const file = await loadInstructionFile(workspace);
    expect(file).toMatchObject({ content: 'Use pnpm.\n\nRun tests first.', truncated: false });
    const block = formatWorkspaceContext(workspace, file);
    expect(block).toContain('<workspace-context>');
    expect(block).toContain(`Working directory: ${workspace.root}`);
    expect(block).toContain('Run tests first.');
  });

  it('caps a large file on a character boundary and says so', async () => {
    writeFileSync(path.join(workspace.root, 'Agents.md'), 'é'.repeat(MAX_INSTRUCTION_BYTES));
    const file = await loadInstructionFile(workspace);
    expect(file!.truncated).toBe(true);
    expect(Buffer.byteLength(file!.content)).toBeLessThanOrEqual(MAX_INSTRUCTION_BYTES);
    expect(file!.content).not.toContain('\uFFFD');
  });

  it('returns null without an instruction file', async () => {
    rmSync(path.join(workspace.root, 'Agents.md'));
    expect(await loadInstructionFile(workspace)).toBeNull();
  });
});
