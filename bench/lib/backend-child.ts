// The backend under benchmark, in its own process (started by ./backend-process.ts): what an
// operator runs — every service module in one Node process on a scratch PostgreSQL database and
// a store prefix — so the simulated phones' work (TLS, E2E encryption, signatures) does not run
// on the backend's event loop. Talks to its parent over the IPC channel only.
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { isPreparedStatementSql } from '@kfrm/db';
import { openTestDatabase } from '@kfrm/db/test-database';
import { ensureDevCertificates } from '@kfrm/pki';
import { startServices, type ServiceModule } from '@kfrm/runtime';
import { testServiceIdentity } from '@kfrm/runtime/testing/service-identity.fixtures';
import { authModule, createAuthModule, type AuthModuleOptions } from '@kfrm/service-auth';
import { createStore, prefixed } from '@kfrm/store';
import { serviceModules } from '../../packages/backend/src/service-modules';
import type { BackendConfig, FromBackend, ToBackend } from './backend-process';
import { threadCpuMs } from './process-cpu';

/** The services a benchmark calls the internal listener as (certificates made for them). */
const BENCH_CALLER_SERVICES = ['transfer', 'notification'];

const send = (message: FromBackend) => process.send!(message);
const config = JSON.parse(process.env.BENCH_BACKEND_CONFIG ?? '{}') as BackendConfig;

const wanted = new Set(config.services ?? serviceModules.map((m) => m.name));
const modules: ServiceModule[] = serviceModules
  .filter((m) => wanted.has(m.name))
  .map((m) =>
    m.name === authModule.name && config.authSettings
      ? createAuthModule({ settings: config.authSettings as AuthModuleOptions['settings'] })
      : m,
  );

/** The ledger's batching knobs (services/account README) pass through from the benchmark's environment. */
const ledgerTuning = () => Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('KFRM_LEDGER_')));

const dataDir = await mkdtemp(join(tmpdir(), 'kfrm-bench-backend-'));
// BENCH_TRACE_SQL=<file>: every statement the backend sends, one line each (to count round trips).
const traceFile = process.env.BENCH_TRACE_SQL;
const database = await openTestDatabase({
  backend: 'postgres',
  poolMax: config.poolMax ?? 20,
  ...(traceFile
    ? {
        log: {
          debug: (fields: Record<string, unknown>) =>
            // "P": a template's SQL, sent as a named prepared statement; "-": parsed every time.
            appendFileSync(
              traceFile,
              `${Date.now()} ${isPreparedStatementSql(String(fields.sql)) ? 'P' : '-'} ${String(fields.sql).replace(/\s+/g, ' ')}\n`,
            ),
        },
      }
    : {}),
});
// Internal mTLS with a test PKI, as split services run it: the benchmark calls service-only
// methods (LedgerService.PostTransfer) with the calling service's certificate and operator
// methods with TLS and a token. The modules' calls to each other stay in-process (no HTTP/2),
// as in the embedded default, so this does not change what the backend's own calls cost.
const identity = await testServiceIdentity(join(dataDir, 'internal-pki'), BENCH_CALLER_SERVICES);
const baseStore = await createStore({ redisUrl: process.env.REDIS_URL });
const store = prefixed(baseStore, `bench-${randomBytes(4).toString('hex')}:`);
const running = await startServices(modules, {
  name: 'bench-backend',
  env: {
    ...ledgerTuning(),
    KFRM_DATA_DIR: dataDir,
    KFRM_MOBILE_LISTEN: '127.0.0.1:0',
    KFRM_INTERNAL_LISTEN: '127.0.0.1:0',
    KFRM_METRICS_LISTEN: '127.0.0.1:0',
    KFRM_MIGRATE_ON_START: 'true',
    KFRM_BACK_OFFICE_LISTEN: 'off',
    // The dependency check's `select 1` touches no table, so PostgreSQL holds its count back
    // until that connection next runs a statement that does: a second's poll, counted late,
    // landed in whichever window of operations came next (22 of them in a 16-call login step).
    // Once a minute, it stays out of the benches' transactions per operation.
    KFRM_DEPENDENCY_CHECK_MS: '60000',
    // BENCH_LOG_LEVEL (backend-process.ts): warn unless a benchmark measures the per-call lines.
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? 'warn',
    ...identity.env,
  },
  db: database,
  store,
});

let stopping = false;
async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  try {
    await running.stop();
    await store.close();
    await baseStore.close();
    await database.close();
    await rm(dataDir, { recursive: true, force: true });
  } finally {
    send({ type: 'stopped' });
    process.disconnect();
  }
}

// A profile of one stretch of the run only (a benchmark's measured calls, not its set-up): CPU,
// or with BENCH_PROFILE_ALLOCATIONS=1 the allocations sampled by V8's heap profiler, those
// collected since included (what the garbage collector had to deal with, by allocating stack).
const ALLOCATION_SAMPLING_BYTES = 32 * 1024;
let profiler: Session | undefined;
const profilingAllocations = process.env.BENCH_PROFILE_ALLOCATIONS === '1';
async function startProfile(): Promise<void> {
  profiler = new Session();
  profiler.connect();
  if (profilingAllocations) {
    await profiler.post('HeapProfiler.enable');
    // Node 20's inspector typings predate the two include… flags; V8 takes them.
    await profiler.post('HeapProfiler.startSampling', {
      samplingInterval: ALLOCATION_SAMPLING_BYTES,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    } as never);
  } else {
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  send({ type: 'profile-started' });
}
async function stopProfile(file: string): Promise<void> {
  const { profile } = profilingAllocations ? await profiler!.post('HeapProfiler.stopSampling') : await profiler!.post('Profiler.stop');
  profiler!.disconnect();
  profiler = undefined;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, JSON.stringify(profile));
  send({ type: 'profile-written', file });
}

process.on('message', (message: ToBackend) => {
  if (message.type === 'cpu') send({ type: 'cpu', usage: process.cpuUsage(), mainThreadMs: threadCpuMs(process.pid) });
  else if (message.type === 'stop') void stop();
  else if (message.type === 'profile-start') void startProfile();
  else if (message.type === 'profile-stop') void stopProfile(message.file);
});
// The parent died without asking: do not leave a listener and a scratch database behind.
process.on('disconnect', () => void stop());

// The development certificates the mobile listener loaded (already made: this returns their files).
const tls = await ensureDevCertificates(running.config.devTlsDir);
send({
  type: 'ready',
  mobileTls: { serverCertFile: tls.serverCertFile, serverKeyFile: tls.serverKeyFile, deviceCaCertFile: tls.deviceCaCertFile },
  mobilePort: running.mobilePort,
  internalPort: running.internalPort,
  metricsPort: running.metricsPort,
  serverCaCertFile: running.serverCaCertFile,
  databaseSource: database.source,
  databaseName: database.databaseName,
  operatorIssuerDir: running.config.operatorIssuerDir,
  internalPki: {
    caCertFile: identity.listenerFiles.clientCaFile,
    services: Object.fromEntries(BENCH_CALLER_SERVICES.map((service) => [service, identity.files(service)])),
  },
});
