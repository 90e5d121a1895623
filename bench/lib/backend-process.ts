// Starts the backend for a benchmark in a child process (./backend-child.ts, compiled by default) and stops it.
// Benchmarks used to start it in their own process, so the load generator's TLS, E2E encryption
// and signatures ran on the backend's event loop and were counted as the backend's cost.
import { fork, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBundles, copyRuntimeFiles } from '../../scripts/build';

export interface BackendConfig {
  /** Service module names (packages/backend/src/service-modules.ts); default all. */
  services?: string[];
  /** Overrides of the auth service's identity settings (e.g. raised per-device throttles). */
  authSettings?: Record<string, number>;
  /** The backend's database pool. */
  poolMax?: number;
}

export type ToBackend = { type: 'cpu' } | { type: 'stop' } | { type: 'profile-start' } | { type: 'profile-stop'; file: string };
export type FromBackend =
  | {
      type: 'ready';
      mobilePort: number;
      internalPort: number;
      metricsPort: number | undefined;
      serverCaCertFile: string;
      databaseSource: string;
      databaseName: string | undefined;
      operatorIssuerDir: string;
      mobileTls: MobileTlsFiles;
      internalPki: InternalPkiFiles;
    }
  | { type: 'cpu'; usage: NodeJS.CpuUsage; mainThreadMs: number | undefined }
  | { type: 'profile-started' }
  | { type: 'profile-written'; file: string }
  | { type: 'stopped' };

/** The files of the mobile listener's TLS: a bare server with the same TLS uses them (bench/reads.ts). */
export interface MobileTlsFiles {
  serverCertFile: string;
  serverKeyFile: string;
  deviceCaCertFile: string;
}

/** The internal listener's test PKI (mTLS, docs/adr/0014-service-identity.md). */
export interface InternalPkiFiles {
  caCertFile: string;
  services: Record<string, { certFile: string; keyFile: string }>;
}

export interface BackendProcess {
  mobilePort: number;
  internalPort: number;
  /** Port of the backend's GET /metrics (undefined if it did not listen). */
  metricsPort: number | undefined;
  serverCaCertFile: string;
  databaseSource: string;
  /** The scratch PostgreSQL database's name (pg_stat_database counts its transactions); undefined on PGlite. */
  databaseName: string | undefined;
  mobileTls: MobileTlsFiles;
  /** The backend's local operator issuer (embedded default): where the benchmark mints its operator tokens. */
  operatorIssuerDir: string;
  /**
   * Credentials for the internal listener (mTLS): `as('transfer')` calls as that service
   * (service-only methods such as LedgerService.PostTransfer); `operatorTool()` is TLS without a
   * client certificate, for operator methods called with a token.
   */
  internal: { as(service: string): grpc.ChannelCredentials; operatorTool(): grpc.ChannelCredentials };
  /** The backend process's id (its CPU time per thread is in /proc/<pid>/task). */
  pid: number;
  /** CPU time the backend process has used so far (all its threads), in ms. */
  cpuMs(): Promise<number>;
  /**
   * The same, and its main thread's share (where the JavaScript runs; the rest is libuv's pool,
   * where the argon2id verifies run, and V8's helper threads); `mainThread` is NaN without /proc.
   */
  threadsCpuMs(): Promise<{ all: number; mainThread: number }>;
  /** Runs `work` with the backend's CPU profiler on (node:inspector), and writes the profile to `file`. */
  profile<T>(file: string, work: () => Promise<T>): Promise<T>;
  stop(): Promise<void>;
}

let backendsStarted = 0;

/**
 * Bundles the backend child as the production build bundles an entry point, with the files it
 * reads beside itself, into a folder of its own: inside the repository, so its packages
 * resolve; one per backend, so no backend's files are rebuilt or removed under another. Returns
 * the folder.
 */
async function buildBackendChild(): Promise<string> {
  const dir = fileURLToPath(new URL(`../../dist/bench-backend/${process.pid}-${++backendsStarted}`, import.meta.url));
  await rm(dir, { recursive: true, force: true });
  await buildBundles({ 'backend-child': 'bench/lib/backend-child.ts' }, dir);
  await copyRuntimeFiles(dir);
  return dir;
}

/**
 * `BENCH_BACKEND_RUNNER=tsx` runs the backend child through tsx; by default it is bundled as the
 * production build bundles the services (scripts/build.ts) and run as compiled JavaScript, as
 * the containers run it. tsx keeps every function's name with a helper called at each closure's
 * creation, which production code does not pay.
 */
function backendRunner(): 'compiled' | 'tsx' {
  const runner = process.env.BENCH_BACKEND_RUNNER ?? 'compiled';
  if (runner !== 'compiled' && runner !== 'tsx') throw new Error(`BENCH_BACKEND_RUNNER must be compiled or tsx, not ${runner}`);
  return runner;
}

/**
 * `BENCH_BACKEND_PROF=<dir>` runs the child with `--cpu-prof` into that directory (the profile
 * of the backend alone, written when it stops). `BENCH_BACKEND_NODE_FLAGS` adds Node flags to the
 * child only (e.g. `--perf-basic-prof-only-functions`, for `perf record` to name JavaScript frames).
 * `BENCH_LOG_LEVEL` sets the backend's LOG_LEVEL (default warn: the benchmarks' figures leave the
 * per-call lines out); at info or below, its stdout goes to `BENCH_LOG_FILE` (default /dev/null),
 * written as a deployment's log collector would read it, not onto the benchmark's tables.
 */
export async function startBackendProcess(config: BackendConfig = {}, timeoutMs = 180_000): Promise<BackendProcess> {
  const profDir = process.env.BENCH_BACKEND_PROF;
  const runner = backendRunner();
  const compiledDir = runner === 'compiled' ? await buildBackendChild() : undefined;
  const removeCompiled = () => (compiledDir ? rm(compiledDir, { recursive: true, force: true }) : Promise.resolve());
  const entry = compiledDir ? join(compiledDir, 'backend-child.mjs') : fileURLToPath(new URL('./backend-child.ts', import.meta.url));
  const logLevel = process.env.BENCH_LOG_LEVEL ?? 'warn';
  const logFd = ['warn', 'error', 'fatal', 'silent'].includes(logLevel)
    ? undefined
    : openSync(process.env.BENCH_LOG_FILE ?? '/dev/null', 'a');
  const child: ChildProcess = fork(entry, [], {
    execArgv: [
      ...(runner === 'compiled' ? [] : ['--import', 'tsx']),
      ...(profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
      ...(process.env.BENCH_BACKEND_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
    ],
    env: { ...process.env, BENCH_BACKEND_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', logFd ?? 'inherit', 'inherit', 'ipc'],
  });
  // The child holds its own copy of the descriptor.
  if (logFd !== undefined) closeSync(logFd);
  const next = <T extends FromBackend['type']>(type: T, ms: number) =>
    new Promise<Extract<FromBackend, { type: T }>>((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`backend process: no '${type}' within ${ms} ms`)), ms);
      const onMessage = (m: FromBackend) => m.type === type && done(undefined, m as Extract<FromBackend, { type: T }>);
      const onExit = (code: number | null) => done(new Error(`backend process exited (${code}) before '${type}'`));
      function done(err?: Error, value?: Extract<FromBackend, { type: T }>) {
        clearTimeout(timer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        if (err) reject(err);
        else resolve(value!);
      }
      child.on('message', onMessage);
      child.on('exit', onExit);
    });
  let ready: Extract<FromBackend, { type: 'ready' }>;
  try {
    ready = await next('ready', timeoutMs);
  } catch (err) {
    child.kill('SIGKILL');
    await removeCompiled();
    throw err;
  }
  const threadsCpuMs = async () => {
    const answer = next('cpu', 10_000);
    child.send({ type: 'cpu' } satisfies ToBackend);
    const { usage, mainThreadMs } = await answer;
    return { all: (usage.user + usage.system) / 1000, mainThread: mainThreadMs ?? Number.NaN };
  };
  return {
    pid: child.pid!,
    mobilePort: ready.mobilePort,
    internalPort: ready.internalPort,
    metricsPort: ready.metricsPort,
    serverCaCertFile: ready.serverCaCertFile,
    databaseSource: ready.databaseSource,
    databaseName: ready.databaseName,
    mobileTls: ready.mobileTls,
    operatorIssuerDir: ready.operatorIssuerDir,
    internal: internalCredentials(ready.internalPki),
    cpuMs: async () => (await threadsCpuMs()).all,
    threadsCpuMs,
    async profile(file, work) {
      const started = next('profile-started', 10_000);
      child.send({ type: 'profile-start' } satisfies ToBackend);
      await started;
      try {
        return await work();
      } finally {
        const written = next('profile-written', 60_000);
        child.send({ type: 'profile-stop', file } satisfies ToBackend);
        await written;
      }
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.send({ type: 'stop' } satisfies ToBackend);
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
        await exited;
        clearTimeout(timer);
      }
      await removeCompiled();
    },
  };
}

function internalCredentials(pki: InternalPkiFiles): BackendProcess['internal'] {
  const ca = readFileSync(pki.caCertFile);
  return {
    as(service) {
      const files = pki.services[service];
      if (!files) throw new Error(`the bench backend made no internal certificate for ${service}`);
      return grpc.credentials.createSsl(ca, readFileSync(files.keyFile), readFileSync(files.certFile));
    },
    operatorTool: () => grpc.credentials.createSsl(ca),
  };
}
