/**
 * The stop sequence the demo plant (bin/plant.ts) and the e2e benchmark's plant
 * (bench/e2e-plant.ts) share: every part is stopped, in reverse start order, one after
 * the other, and every failure is reported under the plant's name.
 */
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DemoPlant } from '../../bin/plant.js';
import { type PlantParts, stopInOrder, stopPlant } from '../../bin/plant-stop.js';

/** A part that records when its stop() begins and ends, and fails if told to. */
function part(name: string, log: string[], fail?: Error) {
  return {
    async stop(): Promise<void> {
      log.push(`${name} begins`);
      await new Promise((resolve) => setImmediate(resolve));
      log.push(`${name} ends`);
      if (fail) throw fail;
    },
  };
}

describe('stopInOrder', () => {
  it('runs each step only after the previous one settled', async () => {
    const log: string[] = [];
    await stopInOrder([() => part('a', log).stop(), () => part('b', log).stop()], 'test plant');
    expect(log).toEqual(['a begins', 'a ends', 'b begins', 'b ends']);
  });

  it('runs the steps after a failed one and throws every failure, in order, naming the plant', async () => {
    const log: string[] = [];
    const first = new Error('port still held');
    const second = new Error('timer would not clear');
    const stopping = stopInOrder(
      [
        () => part('a', log, first).stop(),
        () => part('b', log).stop(),
        () => part('c', log, second).stop(),
      ],
      'test plant',
    );
    const err = await stopping.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(AggregateError);
    expect((err as AggregateError).message).toBe('test plant did not stop cleanly');
    expect((err as AggregateError).errors).toEqual([first, second]);
    expect(log).toEqual(['a begins', 'a ends', 'b begins', 'b ends', 'c begins', 'c ends']);
  });
});

describe('stopPlant', () => {
  it('stops gateway, server, tank farm, gas detector, receiver in that order and drops gateway and server', async () => {
    const log: string[] = [];
    const plant: PlantParts = {
      gateway: part('gateway', log),
      server: part('server', log),
      tankFarm: part('tank farm', log),
      gasDetector: part('gas detector', log),
      receiver: part('receiver', log),
    };
    await stopPlant(plant, 'test plant');
    expect(log.filter((line) => line.endsWith('ends'))).toEqual([
      'gateway ends',
      'server ends',
      'tank farm ends',
      'gas detector ends',
      'receiver ends',
    ]);
    expect(plant.gateway).toBeNull();
    expect(plant.server).toBeNull();
  });

  it('still stops the simulators and the receiver when the gateway will not stop', async () => {
    const log: string[] = [];
    const stuck = new Error('gateway outbox locked');
    const plant: PlantParts = {
      gateway: part('gateway', log, stuck),
      server: part('server', log),
      tankFarm: part('tank farm', log),
      gasDetector: part('gas detector', log),
      receiver: part('receiver', log),
    };
    await expect(stopPlant(plant, 'test plant')).rejects.toMatchObject({
      message: 'test plant did not stop cleanly',
      errors: [stuck],
    });
    expect(log).toContain('receiver ends');
    expect(plant.server).toBeNull();
  });

  it('lets a demo plant that never started stop, twice', async () => {
    const plant = new DemoPlant({ pkiDir: path.join(os.tmpdir(), 'hw-plant-stop-pki') });
    await plant.stop();
    await plant.stop();
    expect(plant.server).toBeNull();
    expect(plant.gateway).toBeNull();
  });
});
