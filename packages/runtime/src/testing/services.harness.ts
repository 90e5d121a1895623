/**
 * `@kfrm/runtime/testing/services.harness`: the set-up every integration test of a service repeats — a temp data
 * directory, an isolated database (fresh per call, see @kfrm/db/test-database), the store (Redis
 * when REDIS_URL is set), both listeners on free ports, migrations — and its teardown.
 * Not for production code.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openTestDatabase, type OpenTestDatabaseOptions, type TestDatabase } from '@kfrm/db/test-database';
import { createStore, prefixed, type Store } from '@kfrm/store';
import type { DestinationStream } from 'pino';
import type { ServiceModule } from '../service-module';
import { startServices, type RunningServices, type StartOptions } from '../start-services';
import { testServiceIdentity, type TestServiceIdentity } from './service-identity.fixtures';

/** Every service a test may call as (the services' folder names) and the test itself. */
const TEST_CALLERS = ['account', 'auth', 'casa', 'device', 'e2e-key', 'funding', 'notification', 'tab-menu', 'transfer', 'user'];

export interface TestServices {
  running: RunningServices;
  database: TestDatabase;
  store: Store;
  dataDir: string;
  /** PEM of the dev server CA, for `grpc.credentials.createSsl`. */
  serverCaPem: Buffer;
  /** host:port of the mobile listener; empty when it is off. */
  mobileAddress: string;
  internalAddress: string;
  /**
   * With `serviceIdentity`: the internal listener takes mTLS from a test internal CA, and these
   * credentials call it as a service (`identity.as('auth')`) or as an operator's tool
   * (`identity.anonymous()`, TLS without a certificate). Without: the listener is plaintext and
   * only operator tokens and in-process calls are served (docs/adr/0014-service-identity.md).
   */
  identity?: TestServiceIdentity;
  /** Stops the services, then closes the store and drops the database. */
  close(): Promise<void>;
}

export async function startTestServices(
  modules: ServiceModule[],
  options: {
    name: string;
    env?: Record<string, string>;
    logDestination?: DestinationStream;
    /** A store the caller owns and closes (e.g. a `prefixed` view); default: one of our own. */
    store?: Store;
    /** For openTestDatabase, e.g. a bigger `poolMax` for tests that run many calls at once. */
    databaseOptions?: OpenTestDatabaseOptions;
    /** Internal mTLS with a test internal CA, so the test can call as a service (see TestServices.identity). */
    serviceIdentity?: boolean;
  } & Pick<StartOptions, 'spanExporter'>,
): Promise<TestServices> {
  const dataDir = await mkdtemp(join(tmpdir(), `kfrm-${options.name}-`));
  const identity = options.serviceIdentity ? await testServiceIdentity(join(dataDir, 'internal-pki'), TEST_CALLERS) : undefined;
  const database = await openTestDatabase(options.databaseOptions);
  // Redis outlives the fresh database: without a prefix of its own, counters keyed by ids that
  // restart at 1 in every database (per-device throttles) would add up across runs and files.
  const ownStore = options.store ? undefined : await createStore({ redisUrl: process.env.REDIS_URL });
  const store = options.store ?? prefixed(ownStore!, `test-${options.name}-${randomUUID()}:`);
  const running = await startServices(modules, {
    name: options.name,
    env: {
      KFRM_DATA_DIR: dataDir,
      KFRM_MOBILE_LISTEN: '127.0.0.1:0',
      KFRM_INTERNAL_LISTEN: '127.0.0.1:0',
      // No console unless a test asks for one (on port 0).
      KFRM_BACK_OFFICE_LISTEN: 'off',
      KFRM_MIGRATE_ON_START: 'true',
      LOG_LEVEL: 'debug',
      ...identity?.env,
      ...options.env,
    },
    db: database,
    store,
    logDestination: options.logDestination,
    spanExporter: options.spanExporter,
  }).catch(async (err: unknown) => {
    if (ownStore) {
      await store.close();
      await ownStore.close();
    }
    await database.close();
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  });
  return {
    running,
    database,
    store,
    dataDir,
    serverCaPem: await readFile(running.serverCaCertFile),
    // Empty when the test turned the mobile listener off (KFRM_MOBILE_LISTEN=off).
    mobileAddress: running.config.mobileListen ? `127.0.0.1:${running.mobilePort}` : '',
    internalAddress: `127.0.0.1:${running.internalPort}`,
    identity,
    async close() {
      await running.stop();
      if (ownStore) {
        await store.close();
        await ownStore.close();
      }
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
