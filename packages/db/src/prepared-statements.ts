import { createHash } from 'node:crypto';
import type pg from 'pg';
import { DatabaseUnavailableError, pgErrorCode } from './errors';

/**
 * Named (server-side prepared) statements for the SQL of `QueryTemplate`s on PostgreSQL.
 *
 * Kysely sends every statement unnamed, so PostgreSQL parses, analyses and plans it on every
 * execution. A template's SQL never changes, so it can be a named statement: pg parses it once
 * per connection and afterwards sends only Bind/Execute, and PostgreSQL reuses the parse tree
 * and, where it decides a generic plan is as good, the plan (what `pgbench -M prepared` does).
 * Only template SQL is named: ad-hoc queries may vary in shape (`in (…)` lists of any length)
 * and would fill each connection's statement cache without end.
 *
 * A template that selects `*` keeps its result type in the prepared statement: a migration that
 * adds a column while this process runs (a rolling deploy) makes PostgreSQL refuse it with
 * "cached plan must not change result type" (0A000). The connection then moves to a new
 * generation of names (its old statements are left to die with it); a statement outside a
 * transaction is retried once at once, one inside a transaction fails as a retryable outage
 * (the transaction is already aborted; the caller's retry, as after any UNAVAILABLE, runs on the new names).
 */
const nameBySql = new Map<string, string>();

/** Called by QueryTemplate with the SQL it compiled. */
export function markPreparable(sql: string): void {
  if (nameBySql.has(sql)) return;
  // ≤ 63 bytes (NAMEDATALEN); the hash tells statements apart, the prefix tells them ours.
  nameBySql.set(sql, `kfrm_${createHash('sha256').update(sql).digest('base64url').slice(0, 22)}`);
}

/** True for SQL that runs as a named statement (a template's); for traces that count round trips. */
export function isPreparedStatementSql(sql: string): boolean {
  return nameBySql.has(sql);
}

const generationByClient = new WeakMap<pg.PoolClient, number>();

function statementName(client: pg.PoolClient, base: string): string {
  const generation = generationByClient.get(client);
  return generation === undefined ? base : `${base}_${generation}`;
}

function isStaleCachedPlan(err: unknown): boolean {
  return pgErrorCode(err) === '0A000' && /cached plan must not change result type/.test((err as Error).message ?? '');
}

/**
 * Runs `sql` on `client`, as a named statement when it is a template's. Returns undefined when
 * the SQL is not a template's (the caller runs it as before).
 */
export function queryPrepared(client: pg.PoolClient, sql: string, values: unknown[] | undefined): Promise<pg.QueryResult> | undefined {
  const base = nameBySql.get(sql);
  if (base === undefined) return undefined;
  const run = () => client.query({ name: statementName(client, base), text: sql, ...(values ? { values } : {}) });
  return run().catch((err: unknown) => {
    if (!isStaleCachedPlan(err)) throw err;
    generationByClient.set(client, (generationByClient.get(client) ?? 0) + 1);
    // 'I': no transaction open, the failed statement was on its own: run it again, new name.
    if (client.getTransactionStatus() === 'I') return run();
    throw new DatabaseUnavailableError('a prepared statement went stale after a schema change; retry', { cause: err });
  });
}
