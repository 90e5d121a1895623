/**
 * At most `max` tasks run at once; the others wait, first come first served. A task that fails
 * frees its place like one that succeeds.
 */
export interface ConcurrencyLimit {
  readonly max: number;
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks running now and tasks waiting for a place (for monitoring and tests). */
  load(): { running: number; waiting: number };
}

export function createConcurrencyLimit(max: number): ConcurrencyLimit {
  if (!Number.isSafeInteger(max) || max < 1) throw new RangeError(`max must be a positive integer, got ${String(max)}`);
  let running = 0;
  const waiting: (() => void)[] = [];

  const release = (): void => {
    const next = waiting.shift();
    // The place passes straight to the next task: `running` stays the same.
    if (next) next();
    else running--;
  };

  return {
    max,
    async run<T>(task: () => Promise<T>): Promise<T> {
      if (running < max) running++;
      else await new Promise<void>((resolve) => waiting.push(resolve));
      try {
        return await task();
      } finally {
        release();
      }
    },
    load: () => ({ running, waiting: waiting.length }),
  };
}
