/**
 * How a plant stops, shared by the demo plant (bin/plant.ts, one process) and the e2e
 * benchmark's plant (bench/e2e-plant.ts, server and gateway in child processes): both are
 * the same five parts, started receiver → tank farm → server → gas detector → gateway.
 */

/** A part that can be stopped; its stop() is safe to call twice or when it never started. */
export interface Stoppable {
  stop(): Promise<unknown>;
}

/** The parts of a plant; server and gateway exist only once start() got that far. */
export interface PlantParts {
  gateway: Stoppable | null;
  server: Stoppable | null;
  readonly tankFarm: Stoppable;
  readonly gasDetector: Stoppable;
  readonly receiver: Stoppable;
}

/**
 * Runs every step in order, each after the previous settled, even when earlier ones
 * failed: one part that will not stop must not leave the others' ports and timers open.
 * Throws an AggregateError "<what> did not stop cleanly" with every failure, in order.
 */
export async function stopInOrder(
  steps: readonly (() => Promise<unknown>)[],
  what: string,
): Promise<void> {
  const errors: unknown[] = [];
  for (const step of steps) {
    try {
      await step();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length > 0) throw new AggregateError(errors, `${what} did not stop cleanly`);
}

/**
 * Stops a plant in reverse of its start order (gateway, server, tank farm, gas detector,
 * receiver), dropping gateway and server so a second call, or a later start(), begins
 * afresh. Safe after a failed start; throws as stopInOrder does, naming the plant `what`.
 */
export function stopPlant(plant: PlantParts, what: string): Promise<void> {
  return stopInOrder(
    [
      async () => {
        await plant.gateway?.stop();
        plant.gateway = null;
      },
      async () => {
        await plant.server?.stop();
        plant.server = null;
      },
      () => plant.tankFarm.stop(),
      () => plant.gasDetector.stop(),
      () => plant.receiver.stop(),
    ],
    what,
  );
}
