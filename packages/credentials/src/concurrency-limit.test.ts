import { describe, expect, it } from 'vitest';
import { createConcurrencyLimit } from './concurrency-limit';

/** A task that runs until its `finish` (or `fail`) is called. */
function controlledTask<T>() {
  let finish!: (value: T) => void;
  let fail!: (err: Error) => void;
  let started = false;
  const done = new Promise<T>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  return {
    task: () => {
      started = true;
      return done;
    },
    started: () => started,
    finish: (value: T) => finish(value),
    fail: (err: Error) => fail(err),
  };
}

const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('createConcurrencyLimit', () => {
  it('runs at most max tasks at once and starts the waiting ones in arrival order', async () => {
    const limit = createConcurrencyLimit(2);
    const tasks = Array.from({ length: 5 }, () => controlledTask<number>());
    const results = tasks.map((t, i) => limit.run(t.task).then((v) => [i, v]));
    await turn();
    expect(tasks.map((t) => t.started())).toEqual([true, true, false, false, false]);
    expect(limit.load()).toEqual({ running: 2, waiting: 3 });

    tasks[1]!.finish(11);
    await turn();
    expect(tasks.map((t) => t.started())).toEqual([true, true, true, false, false]);
    expect(limit.load()).toEqual({ running: 2, waiting: 2 });

    tasks[0]!.finish(10);
    tasks[2]!.finish(12);
    await turn();
    expect(tasks.map((t) => t.started())).toEqual([true, true, true, true, true]);
    tasks[3]!.finish(13);
    tasks[4]!.finish(14);
    expect(await Promise.all(results)).toEqual([
      [0, 10],
      [1, 11],
      [2, 12],
      [3, 13],
      [4, 14],
    ]);
    expect(limit.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('frees the place of a task that fails, and passes its failure to the caller', async () => {
    const limit = createConcurrencyLimit(1);
    const failing = controlledTask<number>();
    const next = controlledTask<number>();
    const first = limit.run(failing.task);
    const second = limit.run(next.task);
    await turn();
    expect(next.started()).toBe(false);
    failing.fail(new Error('argon2 failed'));
    await expect(first).rejects.toThrow('argon2 failed');
    await turn();
    expect(next.started()).toBe(true);
    next.finish(2);
    expect(await second).toBe(2);
    expect(limit.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('frees the place of a task that throws before returning a promise', async () => {
    const limit = createConcurrencyLimit(1);
    await expect(
      limit.run(() => {
        throw new Error('synchronous');
      }),
    ).rejects.toThrow('synchronous');
    expect(limit.load()).toEqual({ running: 0, waiting: 0 });
    expect(await limit.run(async () => 'next')).toBe('next');
  });

  it('refuses a max that is not a positive integer', () => {
    for (const max of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => createConcurrencyLimit(max)).toThrow(RangeError);
  });
});
