import { type Kysely, sql } from 'kysely';

/**
 * Custom plans allowed per prepared statement: the five `plan_cache_mode = auto` makes before it
 * compares them with the generic plan, and one to spare.
 */
export const SETTLING_PLANS = 6;

export interface PlanCacheReport {
  /** Statements executed at least `minExecutions` times, as PostgreSQL holds them. */
  executed: string[];
  /** Those of them still planned afresh after settling, described for an assertion's diff. */
  plannedAfresh: string[];
}

/**
 * What the connection's prepared statements did with their plans (`pg_prepared_statements`).
 *
 * PostgreSQL keeps a plan per prepared statement and connection. With `plan_cache_mode = auto` it
 * plans a statement afresh for its first five executions, then settles on the generic plan, unless
 * the generic plan is estimated dearer than the custom ones: then it plans afresh at every
 * execution, for good (the ledger's batch write did, 0.45 ms of the server's time per batch;
 * docs/performance.md, sixteenth session). `pg_prepared_statements` lists one session's statements
 * only, so `db` must be a pool of one connection (`poolMax: 1`) for the report to cover every
 * statement it ran. PostgreSQL only: PGlite runs every statement unnamed.
 */
export async function planCacheReport(db: Kysely<any>, minExecutions: number): Promise<PlanCacheReport> {
  const { rows } = await sql<{ statement: string; generic_plans: string; custom_plans: string }>`
    select statement, generic_plans, custom_plans from pg_prepared_statements`.execute(db);
  const executions = (r: (typeof rows)[number]) => Number(r.generic_plans) + Number(r.custom_plans);
  const often = rows.filter((r) => executions(r) >= minExecutions);
  return {
    executed: often.map((r) => r.statement),
    plannedAfresh: often
      .filter((r) => Number(r.custom_plans) > SETTLING_PLANS)
      .map((r) => `${r.custom_plans} of ${executions(r)} planned afresh: ${r.statement.replace(/\s+/g, ' ').slice(0, 160)}`),
  };
}

/**
 * Names each statement by the first of `kinds` (name → text it contains, whitespace collapsed)
 * that matches, in the order given; a statement that matches none keeps its first 80 characters,
 * so an assertion's diff shows it.
 */
export function statementKinds(statements: readonly string[], kinds: Record<string, string>): string[] {
  return statements.map((statement) => {
    const flat = statement.replace(/\s+/g, ' ');
    return Object.entries(kinds).find(([, text]) => flat.includes(text))?.[0] ?? flat.slice(0, 80);
  });
}
