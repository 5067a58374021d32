/** The no-op activity of S1's bare workflow. */

export function createFloorActivities() {
  return {
    async noop(): Promise<void> {
      // Nothing: the cost measured is Temporal's alone.
    },
  };
}

export type FloorActivities = ReturnType<typeof createFloorActivities>;
