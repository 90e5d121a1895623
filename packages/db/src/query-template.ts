import type { Compilable, CompiledQuery, Kysely, QueryResult } from 'kysely';

/**
 * A query whose shape never changes, built and compiled once per Kysely instance; each call only
 * fills in its parameters. Kysely otherwise builds, freezes, transforms and compiles the operation
 * tree on every call: for a 15-column SELECT that was ≈ 8 % of a read's CPU, more than the
 * statement's own round trip costs the backend.
 *
 * The build function gets `param(name)`, a placeholder that stands for one scalar parameter. It
 * is an object Kysely passes through as a value, so it may go anywhere a single value goes
 * (`where(col, '=', param('id'))`, `limit(param('n'))`, `set({ col: param('v') })`), not where
 * Kysely would expand an array into a list (`in`): there it would stand for one value. The first
 * compile refuses a template where a placeholder did not come out as a parameter.
 */
export class QueryTemplate<Params extends Record<string, unknown>, Row> {
  private readonly compiled = new WeakMap<Kysely<any>, { query: CompiledQuery<Row>; slots: (Slot | { value: unknown })[] }>();

  constructor(
    private readonly build: (db: Kysely<any>, param: <K extends keyof Params & string>(name: K) => Params[K]) => Compilable<Row>,
  ) {}

  /** Every row. Result plugins of `db` apply as for a built query. */
  async execute(db: Kysely<any>, params: Params): Promise<Row[]> {
    return (await this.executeResult(db, params)).rows;
  }

  async executeTakeFirst(db: Kysely<any>, params: Params): Promise<Row | undefined> {
    return (await this.execute(db, params))[0];
  }

  /** The whole result (affected rows of an UPDATE, say). */
  async executeResult(db: Kysely<any>, params: Params): Promise<QueryResult<Row>> {
    const { query, slots } = this.compile(db);
    const parameters = slots.map((s) => (s instanceof Slot ? params[s.name] : s.value));
    // The compiled query as Kysely made it (its node tells dialects what kind of statement it
    // is), with this call's parameters. No result plugin on our instances keeps state per query id.
    return db.executeQuery<Row>({ ...query, parameters });
  }

  private compile(db: Kysely<any>) {
    const known = this.compiled.get(db);
    if (known) return known;
    const used = new Set<string>();
    const query = this.build(db, (name) => {
      used.add(name);
      return new Slot(name) as never;
    }).compile();
    const slots = query.parameters.map((p) => (p instanceof Slot ? p : { value: p }));
    const placed = slots.filter((s): s is Slot => s instanceof Slot).map((s) => s.name);
    if (new Set(placed).size !== used.size) {
      throw new Error(`query template: a param() is not a parameter of the query (placed: ${placed.join(', ') || 'none'})`);
    }
    const entry = { query, slots };
    this.compiled.set(db, entry);
    return entry;
  }
}

class Slot {
  constructor(readonly name: string) {}
}
