import type { Kysely } from 'kysely';
import { perDatabase, StatementBatcher, type StatementBatcherOptions } from './statement-batcher';

export type ReadBatcherOptions = StatementBatcherOptions;

/**
 * A repository's read by key, batched per database handle: `readMany` answers a list of requests
 * in one statement, a row (or undefined) per request in the same order, and what arrives while
 * such reads are on their way goes together ({@link StatementBatcher}'s scheduling). Under
 * concurrency the reads of many calls cost PostgreSQL one transaction and one round trip, and the
 * backend one query, instead of one each (docs/performance.md, nineteenth session; ADR 0026).
 *
 * A statement that fails fails every request it carried, with its error: the same outcome each
 * would have had alone (the reads are by key, so one request cannot make a statement fail that
 * the others would have passed). A batch's statement starts no earlier than any of its requests
 * arrived, so its snapshot is never older than a read of their own would have been. Inside a
 * transaction the read runs on its own, on the transaction's connection and snapshot.
 */
export function batchedRead<Db extends Kysely<any>, Request, Row>(
  readMany: (db: Db, requests: readonly Request[]) => Promise<readonly (Row | undefined)[]>,
  options: ReadBatcherOptions = {},
): (db: Db, request: Request) => Promise<Row | undefined> {
  const batcherOf = perDatabase((db: Db) => new StatementBatcher<Request, Row | undefined>((requests) => readMany(db, requests), options));
  return (db, request) => (db.isTransaction ? readMany(db, [request]).then((rows) => rows[0]) : batcherOf(db).run(request));
}

/**
 * A batch's answer, one per request: the row whose key is the request's, or undefined. Each
 * request gets its own shallow copy, as a read of its own would have: a key asked twice in one
 * batch must not hand two callers one object. Batched writes by key (`batchedWrite`, one request
 * per key in a batch) answer with it too.
 */
export function answerEach<Request, Row extends object>(
  requests: readonly Request[],
  keyOf: (request: Request) => string,
  rows: Iterable<readonly [key: string, row: Row]>,
): (Row | undefined)[] {
  const byKey = new Map(rows);
  return requests.map((request) => {
    const row = byKey.get(keyOf(request));
    return row && { ...row };
  });
}
