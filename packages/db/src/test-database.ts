/**
 * `@kfrm/db/test-database`: an isolated database for one test file (or one test).
 *
 *   1. `DATABASE_URL` set  → a fresh database `kfrm_test_<random>` on that server, dropped
 *                            (`WITH (FORCE)`) on close.
 *   2. else Docker reachable → one Postgres testcontainer per process (started lazily, reaped by
 *                            testcontainers when the process exits) and a fresh database in it.
 *   3. else                → an in-memory PGlite.
 *
 * `KFRM_TEST_DB=pglite` forces 3; `KFRM_TEST_DB=postgres` requires 1 or 2 (throws otherwise).
 * Test files of many packages run in parallel; every call gets its own database, so tests never
 * see each other's rows. Not for production code (it imports testcontainers lazily).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { homedir } from 'node:os';
import pg from 'pg';
import { openDatabase, type DatabaseHandle, type DatabaseLogger } from './database';

export type TestDatabaseSource = 'database-url' | 'testcontainer' | 'pglite';

export interface OpenTestDatabaseOptions {
  /** 'auto' (default, or `KFRM_TEST_DB`), 'pglite', or 'postgres' (URL or container, else throw). */
  backend?: 'auto' | 'pglite' | 'postgres';
  /** Pool size of the returned handle (Postgres). Default 4: many test files run in parallel. */
  poolMax?: number;
  statementTimeoutMs?: number;
  log?: DatabaseLogger;
}

export interface TestDatabase extends DatabaseHandle {
  readonly source: TestDatabaseSource;
  /** Postgres only: the URL of the fresh database (e.g. to open a second handle on it). */
  readonly databaseUrl: string | undefined;
  /** Postgres only: the fresh database's name. */
  readonly databaseName: string | undefined;
  /** Closes the handle and, on Postgres, drops the database. Idempotent. */
  close(): Promise<void>;
}

export async function openTestDatabase(options: OpenTestDatabaseOptions = {}): Promise<TestDatabase> {
  const backend = options.backend && options.backend !== 'auto' ? options.backend : envBackend();
  if (backend !== 'pglite') {
    const url = process.env.DATABASE_URL;
    if (url) return openFreshPostgresDatabase(url, 'database-url', options);
    if (await isDockerReachable()) {
      try {
        return await openFreshPostgresDatabase(await containerUrl(), 'testcontainer', options);
      } catch (err) {
        if (backend === 'postgres') throw err;
        console.warn('[@kfrm/db] Postgres testcontainer failed, falling back to PGlite:', (err as Error).message);
      }
    } else if (backend === 'postgres') {
      throw new Error('openTestDatabase({ backend: "postgres" }): set DATABASE_URL or make a Docker engine reachable');
    }
  }
  const handle = await openDatabase({ ...(options.log ? { log: options.log } : {}) });
  return Object.assign(handle, { source: 'pglite' as const, databaseUrl: undefined, databaseName: undefined });
}

function envBackend(): 'auto' | 'pglite' | 'postgres' {
  const value = process.env.KFRM_TEST_DB;
  return value === 'pglite' || value === 'postgres' ? value : 'auto';
}

/** The URL with its database name replaced (query parameters such as sslmode are kept). */
export function withDatabaseName(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${encodeURIComponent(database)}`;
  return parsed.toString();
}

async function adminQuery(serverUrl: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl, application_name: 'kfrm-test-admin' });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function openFreshPostgresDatabase(
  serverUrl: string,
  source: Exclude<TestDatabaseSource, 'pglite'>,
  options: OpenTestDatabaseOptions,
): Promise<TestDatabase> {
  const databaseName = `kfrm_test_${randomBytes(6).toString('hex')}`;
  // The name is generated from [a-z0-9_], so it needs no quoting beyond this.
  await adminQuery(serverUrl, `create database "${databaseName}"`);
  const databaseUrl = withDatabaseName(serverUrl, databaseName);
  let handle: DatabaseHandle;
  try {
    handle = await openDatabase({
      databaseUrl,
      poolMax: options.poolMax ?? 4,
      applicationName: 'kfrm-test',
      ...(options.statementTimeoutMs !== undefined ? { statementTimeoutMs: options.statementTimeoutMs } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
  } catch (err) {
    await adminQuery(serverUrl, `drop database if exists "${databaseName}" with (force)`).catch(() => {});
    throw err;
  }
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      try {
        await handle.close();
      } finally {
        await adminQuery(serverUrl, `drop database if exists "${databaseName}" with (force)`);
      }
    })());
  return {
    kind: handle.kind,
    get closed() {
      return handle.closed;
    },
    kysely: (schema?: string) => handle.kysely(schema),
    close,
    source,
    databaseUrl,
    databaseName,
  };
}

/**
 * Cheap check whether a Docker engine answers: connect to its socket (DOCKER_HOST, or the usual
 * socket paths) with a short timeout. Does not load testcontainers.
 */
export async function isDockerReachable(timeoutMs = 300): Promise<boolean> {
  const host = process.env.DOCKER_HOST;
  const targets: Array<{ path: string } | { host: string; port: number }> = [];
  if (host) {
    if (host.startsWith('unix://')) targets.push({ path: host.slice('unix://'.length) });
    else if (host.startsWith('tcp://')) {
      const u = new URL(host.replace(/^tcp:/, 'http:'));
      targets.push({ host: u.hostname, port: Number(u.port || 2375) });
    }
  } else {
    for (const path of ['/var/run/docker.sock', `${homedir()}/.docker/run/docker.sock`, `${homedir()}/.colima/default/docker.sock`]) {
      if (existsSync(path)) targets.push({ path });
    }
  }
  for (const target of targets) {
    if (await canConnect(target, timeoutMs)) return true;
  }
  return false;
}

function canConnect(target: { path: string } | { host: string; port: number }, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(target);
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

let containerUrlPromise: Promise<string> | undefined;

/** One container per process; testcontainers' reaper removes it when the process exits. */
function containerUrl(): Promise<string> {
  containerUrlPromise ??= (async () => {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16-alpine').start();
    return container.getConnectionUri();
  })();
  containerUrlPromise.catch(() => {
    containerUrlPromise = undefined;
  });
  return containerUrlPromise;
}
