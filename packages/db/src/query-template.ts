import type { CompiledQuery, Kysely, KyselyPlugin, QueryResult } from 'kysely';
import { markPreparable } from './prepared-statements';

/** `param(name)`: the placeholder for one parameter of the template. */
export type TemplateParam<Params> = <K extends keyof Params & string>(name: K) => Params[K];
/**
 * What a template builds: a query builder (`compile()`) or a raw `sql` query (`compile(db)`).
 * The compile of either is called with the Kysely instance.
 */
export interface TemplateQuery<Row> {
  compile(db: Kysely<any>): CompiledQuery<Row>;
}

type Entry<Row> = { query: CompiledQuery<Row>; slots: (Slot | { value: unknown })[] };
/** One step of the cache key: the entry for the plugin list so far, and the lists that go on. */
type KeyNode<Row> = { entry?: Entry<Row>; next?: WeakMap<KyselyPlugin, KeyNode<Row>> };

/**
 * A query whose shape never changes, built and compiled once per database and plugin list (see
 * below); each call only fills in its parameters. Kysely otherwise builds, freezes, transforms and compiles the operation
 * tree on every call: for a 15-column SELECT that was ≈ 8 % of a read's CPU, more than the
 * statement's own round trip costs the backend.
 *
 * The build function gets `param(name)`, a placeholder that stands for one scalar parameter. It
 * is an object Kysely passes through as a value, so it may go anywhere a single value goes
 * (`where(col, '=', param('id'))`, `limit(param('n'))`, `set({ col: param('v') })`), not where
 * Kysely would expand an array into a list (`in`): there it would stand for one value (for a list,
 * pass an array as one parameter: `= any(...)`). Raw `sql` works too: `sql\`... ${param('x')}\``.
 * The first compile refuses a template where a placeholder did not come out as a parameter.
 *
 * The compiled query is cached per database, not per Kysely instance: every transaction is a new
 * instance, so a per-instance cache recompiled a template on every call inside a transaction. What
 * the SQL depends on is the dialect's compiler (one per root Kysely, made with its adapter: the
 * adapter object is the root's and all its transactions') and the plugins' `transformQuery`
 * (`withSchema` is a plugin): the key is the adapter, then the exact plugin objects in order.
 * A transaction copies its database's plugin list with the same objects, so it shares the entry;
 * another `withSchema` handle, or any other plugin, gets its own. Measured with a no-I/O driver,
 * Kysely's CPU for a transfer's statements went from 8–39 µs to 1.5–4 µs per call.
 *
 * On PostgreSQL a template's SQL runs as a named statement, parsed once per connection
 * (prepared-statements.ts).
 */
export class QueryTemplate<Params extends Record<string, unknown>, Row> {
  private readonly compiled = new WeakMap<object, KeyNode<Row>>();

  constructor(private readonly build: (db: Kysely<any>, param: TemplateParam<Params>) => TemplateQuery<Row>) {}

  /**
   * The typed way to make one: `QueryTemplate.of<DB, Params>()((db, param) => db.selectFrom(...))`;
   * the build gets a `Kysely<DB>` and the row type is the built query's.
   */
  static of<DB, Params extends Record<string, unknown>>() {
    return <Row>(build: (db: Kysely<DB>, param: TemplateParam<Params>) => TemplateQuery<Row>): QueryTemplate<Params, Row> =>
      new QueryTemplate<Params, Row>(build as (db: Kysely<any>, param: TemplateParam<Params>) => TemplateQuery<Row>);
  }

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

  private compile(db: Kysely<any>): Entry<Row> {
    const executor = db.getExecutor();
    let node = this.compiled.get(executor.adapter);
    if (!node) {
      node = {};
      this.compiled.set(executor.adapter, node);
    }
    for (const plugin of executor.plugins) {
      node.next ??= new WeakMap();
      let step = node.next.get(plugin);
      if (!step) {
        step = {};
        node.next.set(plugin, step);
      }
      node = step;
    }
    node.entry ??= this.compileFor(db);
    return node.entry;
  }

  private compileFor(db: Kysely<any>): Entry<Row> {
    const used = new Set<string>();
    // A query builder's compile() ignores the argument; a RawBuilder's needs it.
    const query = this.build(db, (name) => {
      used.add(name);
      return new Slot(name) as never;
    }).compile(db);
    const slots = query.parameters.map((p) => (p instanceof Slot ? p : { value: p }));
    const placed = slots.filter((s): s is Slot => s instanceof Slot).map((s) => s.name);
    if (new Set(placed).size !== used.size) {
      throw new Error(`query template: a param() is not a parameter of the query (placed: ${placed.join(', ') || 'none'})`);
    }
    markPreparable(query.sql);
    return { query, slots };
  }
}

class Slot {
  constructor(readonly name: string) {}
}
