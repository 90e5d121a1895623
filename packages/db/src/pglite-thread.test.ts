import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from './database';
import { findDatabaseError } from './errors';
import { PG_COMPATIBLE_PARSERS } from './pglite-dialect';
import { PGliteThread, startPGliteThreadEarly, takeEarlyPGliteThread } from './pglite-thread';

const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

/** Runs `source` as an ES module in a process of its own (from the repository root); its stdout. */
async function runModule(source: string): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', source], {
    cwd: repoRoot,
    timeout: 30_000,
  });
  return stdout;
}

describe('PGlite on its worker thread', () => {
  let handle: DatabaseHandle;

  beforeAll(async () => {
    handle = await openDatabase();
    await sql`create table t (id int8 primary key, bytes bytea, at timestamptz, doc jsonb, amount numeric)`.execute(handle.kysely());
  }, 30_000);

  afterAll(async () => {
    await handle?.close();
  });

  it('parameters of every kind reach PostgreSQL, and values come back as pg returns them', async () => {
    const db = handle.kysely();
    const at = new Date('2026-12-07T01:02:03.456Z');
    await sql`insert into t values (${9007199254740993n}, ${Buffer.from([0, 1, 255])}, ${at}, ${JSON.stringify({ a: [1, 'b'] })}, ${'12.30'})`.execute(
      db,
    );
    const { rows } = await sql<{ id: unknown; bytes: unknown; at: unknown; doc: unknown; amount: unknown }>`select * from t`.execute(db);
    expect(rows).toEqual([{ id: '9007199254740993', bytes: Buffer.from([0, 1, 255]), at, doc: { a: [1, 'b'] }, amount: '12.30' }]);
    expect(Buffer.isBuffer(rows[0]!.bytes)).toBe(true);
    expect(rows[0]!.at).toBeInstanceOf(Date);
  });

  it("a PostgreSQL error keeps its SQLSTATE, constraint and detail across the threads, with the caller's frames", async () => {
    const db = handle.kysely();
    await sql`insert into t (id) values (1)`.execute(db);
    const err = await sql`insert into t (id) values (1)`.execute(db).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(findDatabaseError(err)).toMatchObject({ code: '23505', severity: 'ERROR', constraint: 't_pkey', table: 't' });
    expect((err as Error).message).toMatch(/duplicate key/);
    expect((err as Error).stack).toContain('pglite-thread.test.ts');
    // The connection is still usable.
    expect((await sql<{ n: number }>`select 1 as n`.execute(db)).rows).toEqual([{ n: 1 }]);
  });

  it('a thread that ends (as in a crash) fails the queries waiting on it and every later one, and closes without hanging', async () => {
    const thread = new PGliteThread();
    await thread.waitReady;
    const waiting = thread.query('select pg_sleep(5)');
    await thread.worker.terminate();
    await expect(waiting).rejects.toThrow(/PGlite worker thread ended/);
    await expect(thread.query('select 1')).rejects.toThrow(/PGlite worker thread ended/);
    expect(thread.closed).toBe(true);
    await thread.close();
  });

  it('a parameter that cannot cross threads fails that query alone; the next one runs', async () => {
    const thread = new PGliteThread();
    try {
      await thread.waitReady;
      await expect(thread.query('select $1::text as v', [() => 'not data'])).rejects.toThrow(/could not be cloned/);
      expect((await thread.query<{ v: string }>('select $1::text as v', ['data'])).rows).toEqual([{ v: 'data' }]);
    } finally {
      await thread.close();
    }
  });

  it('parsers given per query run on the main thread, on the text the worker returns', async () => {
    const thread = new PGliteThread();
    try {
      await thread.waitReady;
      const parsers = { ...PG_COMPATIBLE_PARSERS, 25: (text: string) => `<${text}>` };
      const result = await thread.query<{ s: unknown; n: unknown; i: unknown }>("select 'x'::text as s, 5::int8 as n, 7::int4 as i", [], {
        parsers,
      });
      expect(result.rows).toEqual([{ s: '<x>', n: '5', i: 7 }]);
      const [last] = (await thread.exec("select 'y'::text as s", { parsers })).slice(-1);
      expect(last!.rows).toEqual([{ s: '<y>' }]);
    } finally {
      await thread.close();
    }
  });
});

describe('the embedded database started early', () => {
  const dirs: string[] = [];
  const scratch = () => {
    const dir = mkdtempSync(join(tmpdir(), 'kfrm-pglite-thread-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('openDatabase takes over the thread started for its data directory, once', async () => {
    const dir = join(scratch(), 'pglite');
    startPGliteThreadEarly(dir);
    const handle = await openDatabase({ dataDir: dir });
    try {
      expect(takeEarlyPGliteThread(dir)).toBeUndefined();
      await sql`create table kept (v text)`.execute(handle.kysely());
      await sql`insert into kept values ('early')`.execute(handle.kysely());
      await expect(openDatabase({ dataDir: dir })).rejects.toThrow(/already open/);
    } finally {
      await handle.close();
    }
    const again = await openDatabase({ dataDir: dir });
    try {
      expect((await sql<{ v: string }>`select v from kept`.execute(again.kysely())).rows).toEqual([{ v: 'early' }]);
    } finally {
      await again.close();
    }
  }, 60_000);

  it('a data directory PGlite cannot open fails openDatabase with the reason, and frees the directory for another try', async () => {
    const path = join(scratch(), 'not-a-directory');
    writeFileSync(path, 'x');
    startPGliteThreadEarly(path);
    await expect(openDatabase({ dataDir: path })).rejects.toThrow(/EEXIST|ENOTDIR|not a directory|file already exists/i);
    rmSync(path);
    const handle = await openDatabase({ dataDir: path });
    await handle.close();
  }, 60_000);

  it('an idle database does not keep a finished process alive; a query still owed does', async () => {
    // A CLI that never closes its handle: its last query still answers, then the process ends.
    const script = [
      "import { sql } from 'kysely';",
      "import { openDatabase } from './packages/db/src/database.ts';",
      'const handle = await openDatabase();',
      "setTimeout(() => sql`select 'answered' as v, pg_sleep(0.3)`.execute(handle.kysely()).then((r) => console.log(r.rows[0].v)), 50);",
    ].join('\n');
    const stdout = await runModule(script);
    expect(stdout.trim()).toBe('answered');
  }, 60_000);

  it('a statement refused before it was sent (a parameter that cannot be copied) is not waited for', async () => {
    const script = [
      "import { PGliteThread } from './packages/db/src/pglite-thread.ts';",
      'const thread = new PGliteThread();',
      'await thread.waitReady;',
      "await thread.query('select $1::text', [() => 'not data']).catch(() => console.log('refused'));",
    ].join('\n');
    const stdout = await runModule(script);
    expect(stdout.trim()).toBe('refused');
  }, 60_000);
});
