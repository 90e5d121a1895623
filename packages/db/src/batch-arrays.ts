import { type RawBuilder, sql } from 'kysely';

/** Element types of a batched statement's arrays. */
export type KeyArrayType = 'text' | 'bigint' | 'timestamptz';

/**
 * A batched statement's array parameter, hidden from the planner: `cast((select $1::text[]) as text[])`.
 *
 * With the array in plain sight, PostgreSQL's custom plan knows its length, and for a batch of one
 * to a few keys on a table of thousands of rows it is estimated far cheaper than the generic plan
 * (which assumes ten keys, or a hundred rows from `unnest`), so `plan_cache_mode = auto` plans the
 * statement afresh at every execution, for good (`statement-plans.it.test.ts` caught it, for
 * `= any(…)` and for `unnest(…)`; the batched writes' tests, `*.plans.it.test.ts` and
 * transfer.repository.it.test.ts, catch it for batches of 2 to 5). Behind a one-row
 * subquery (an InitPlan) neither plan sees the array, the two cost the same, and the statement
 * settles on its generic plan after five executions.
 */
export function hiddenArray(values: unknown, type: KeyArrayType): RawBuilder<unknown> {
  const arrayType = sql.raw(`${type}[]`);
  return sql`cast((select ${values}::${arrayType}) as ${arrayType})`;
}

/**
 * `any(…)` over an array parameter, for a batched read's `where key = anyOfKeys(param('keys'), 'text')`,
 * the array hidden from the planner ({@link hiddenArray}). The key is still an index condition.
 */
export function anyOfKeys<Key = string>(keys: unknown, type: KeyArrayType): RawBuilder<Key> {
  return sql<Key>`any(${hiddenArray(keys, type)})`;
}
