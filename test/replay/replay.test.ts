/**
 * Determinism guard: every committed history in histories/ (captured from real turns by the e2e
 * tests with CAPTURE_HISTORIES=1) must replay against the current workflow code. A failure here
 * after a workflow change means "put the change behind patched()", not "re-capture".
 */
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { getWorkflowBundle } from '../support/temporal';

const dir = path.join(__dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
const load = (file: string): { events: Array<Record<string, any>> } =>
  JSON.parse(readFileSync(path.join(dir, file), 'utf8'));

describe('replay of committed chatWorkflow histories', () => {
  it('has histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files)('%s replays against the current workflows', async (file) => {
    await expect(
      Worker.runReplayHistory({ workflowBundle: await getWorkflowBundle() }, load(file), file),
    ).resolves.toBeUndefined();
  });

  it('detects a change in the command sequence (negative test)', async () => {
    const history = load('chat-workflow.plain.json');
    const scheduled = history.events.find(
      (e) =>
        e.eventType === 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED' &&
        e.activityTaskScheduledEventAttributes.activityType.name === 'runModelStep',
    );
    expect(scheduled).toBeDefined();
    // As if the workflow had scheduled a different activity first when the history was recorded.
    scheduled!.activityTaskScheduledEventAttributes.activityType.name = 'renamedActivity';
    await expect(
      Worker.runReplayHistory({ workflowBundle: await getWorkflowBundle() }, history, 'tampered'),
    ).rejects.toThrow(DeterminismViolationError);
  });
});
