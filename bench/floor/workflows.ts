/**
 * S1's bare Temporal workflow: one no-op activity, nothing else. It runs on its own task queue in
 * the bench runner's process and sets the floor that chatd's turns are compared against.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { FloorActivities } from './activities';

const { noop } = proxyActivities<FloorActivities>({ startToCloseTimeout: '10 seconds' });

export async function floorWorkflow(): Promise<void> {
  await noop();
}
