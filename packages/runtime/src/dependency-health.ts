import { sql } from 'kysely';
import type { DatabaseHandle } from '@kfrm/db';
import type { Logger } from '@kfrm/logging';
import type { KfrmMetrics } from '@kfrm/observability';
import type { Store } from '@kfrm/store';

export interface DependencyHealthOptions {
  db: DatabaseHandle;
  store: Store;
  metrics: KfrmMetrics;
  logger: Logger;
  /** Told each time the answer changes: true when every dependency answers again. */
  onChange(serving: boolean): void;
  /** How often each dependency is checked. */
  intervalMs: number;
  /** A check without an answer after this long counts as down. */
  timeoutMs: number;
}

export interface DependencyHealth {
  /** Whether every dependency answered its last check. */
  readonly serving: boolean;
  stop(): void;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Checks the database and the store now and then, and tells the listeners' health service: a
 * process whose PostgreSQL or Redis is gone answers every call UNAVAILABLE, so it should not be
 * sent calls. The process itself stays up and keeps checking; the pg pool and ioredis reconnect
 * on their own, and the first check that passes makes it SERVING again.
 */
export function watchDependencies(options: DependencyHealthOptions): DependencyHealth {
  const { db, store, metrics, logger } = options;
  const checks: Record<string, () => Promise<unknown>> = {
    postgres: () => sql`select 1`.execute(db.kysely()),
    redis: () => store.ping(),
  };
  // The embedded default has PGlite and an in-process store: nothing to lose, nothing to report.
  const names = Object.keys(checks);
  const up = new Map(names.map((name) => [name, true]));
  for (const name of names) metrics.dependencyUp.set({ dependency: name }, 1);
  let serving = true;
  let stopped = false;
  let running = false;

  const round = async () => {
    if (running || stopped) return;
    running = true;
    try {
      await Promise.all(
        names.map(async (name) => {
          let ok = true;
          let reason: string | undefined;
          try {
            await withTimeout(checks[name]!(), options.timeoutMs);
          } catch (err) {
            ok = false;
            reason = err instanceof Error ? err.message : String(err);
          }
          if (stopped || ok === up.get(name)) return;
          up.set(name, ok);
          metrics.dependencyUp.set({ dependency: name }, ok ? 1 : 0);
          if (ok) logger.info({ dependency: name }, 'dependency answers again');
          else logger.warn({ dependency: name, reason }, 'dependency down: health is NOT_SERVING');
        }),
      );
      const now = [...up.values()].every(Boolean);
      if (!stopped && now !== serving) {
        serving = now;
        options.onChange(now);
      }
    } finally {
      running = false;
    }
  };
  const timer = setInterval(() => void round(), options.intervalMs);
  timer.unref();
  return {
    get serving() {
      return serving;
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
