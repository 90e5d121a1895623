import { sql } from 'kysely';
import type { DatabaseHandle } from '@kfrm/db';
import type { Logger } from '@kfrm/logging';
import type { KfrmMetrics } from '@kfrm/observability';
import type { Store } from '@kfrm/store';

export interface DependencyHealthOptions {
  db: DatabaseHandle;
  store: Store;
  /** Whether the store is a server of its own (Redis) rather than this process's memory. */
  storeIsRemote: boolean;
  metrics: KfrmMetrics;
  logger: Logger;
  /** Told each time the answer changes: true when every dependency answers again. */
  onChange(serving: boolean): void;
  /** How often each dependency is checked. */
  intervalMs: number;
  /** A check without an answer after this long has timed out. */
  timeoutMs: number;
  /**
   * Timed-out checks in a row before a dependency counts as down. A refused or dropped
   * connection counts at once; a slow answer may only mean a busy pool, which should not take
   * the process out of rotation at the first sign of load.
   */
  timeoutsBeforeDown?: number;
}

export interface DependencyHealth {
  stop(): void;
}

class CheckTimeout extends Error {}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new CheckTimeout(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Checks PostgreSQL and Redis now and then, and tells the listeners' health service: a process
 * whose database or store is gone answers every call UNAVAILABLE, so it should not be sent
 * calls. The process itself stays up and keeps checking; the pg pool and ioredis reconnect on
 * their own, and the first check that passes makes it SERVING again. The embedded default's
 * PGlite is checked too: it runs on a thread of its own (ADR 0022), which can end while the
 * process lives on, and it does not come back. The in-process store lives and dies with the
 * process: nothing to watch.
 */
export function watchDependencies(options: DependencyHealthOptions): DependencyHealth {
  const { db, store, metrics, logger } = options;
  const checks: Record<string, () => Promise<unknown>> = {};
  if (db.kind === 'postgres') checks.postgres = () => sql`select 1`.execute(db.kysely());
  if (db.kind === 'pglite') checks.pglite = () => sql`select 1`.execute(db.kysely());
  if (options.storeIsRemote) checks.redis = () => store.ping();
  const names = Object.keys(checks);
  const timeoutsBeforeDown = options.timeoutsBeforeDown ?? 3;
  const up = new Map(names.map((name) => [name, true]));
  const timeouts = new Map(names.map((name) => [name, 0]));
  for (const name of names) metrics.dependencyUp.set({ dependency: name }, 1);
  let serving = true;
  let stopped = false;
  let running = false;

  const check = async (name: string) => {
    let ok = true;
    let reason: string | undefined;
    try {
      await withTimeout(checks[name]!(), options.timeoutMs);
      timeouts.set(name, 0);
    } catch (err) {
      reason = err instanceof Error ? err.message : String(err);
      const timedOut = err instanceof CheckTimeout ? timeouts.get(name)! + 1 : 0;
      timeouts.set(name, timedOut);
      ok = err instanceof CheckTimeout && timedOut < timeoutsBeforeDown ? up.get(name)! : false;
    }
    if (stopped || ok === up.get(name)) return;
    up.set(name, ok);
    metrics.dependencyUp.set({ dependency: name }, ok ? 1 : 0);
    if (ok) logger.info({ dependency: name }, 'dependency answers again');
    else logger.warn({ dependency: name, reason }, 'dependency down: health is NOT_SERVING');
  };

  const round = async () => {
    if (running || stopped) return;
    running = true;
    try {
      await Promise.all(names.map(check));
      const now = [...up.values()].every(Boolean);
      if (!stopped && now !== serving) {
        serving = now;
        options.onChange(now);
      }
    } finally {
      running = false;
    }
  };
  const timer = names.length > 0 ? setInterval(() => void round(), options.intervalMs) : undefined;
  timer?.unref();
  return {
    stop() {
      stopped = true;
      if (timer) clearInterval(timer);
    },
  };
}
