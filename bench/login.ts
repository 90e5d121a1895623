// Logins per second through gRPC beside raw argon2id verifies per second with the same
// parameters on the same machine (issue "Identity": goal ratio >= 0.9).
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/login.ts [seconds-per-step=5]
//
// A login is what the phone does: PrepareLogin, AuthenticatePinForLogin (E2E-encrypted PIN,
// argon2id verify, process step) and Login (session issued), over TLS with a device certificate.
// Both sides run with the same concurrency. The backend runs in a child process; the phones (E2E
// encryption, TLS) run in this one and share the machine's CPUs with it. PostgreSQL transactions
// per login (pg_stat_database of the backend's scratch database) are printed for each row, and
// per step once (PrepareLogin, AuthenticatePinForLogin, Login, each for every phone in turn),
// with the step's Redis commands (INFO commandstats).
// BENCH_CONCURRENCY (default 1,16,64, at most 64); BENCH_WARMUP_SECONDS (unmeasured logins at the
// largest concurrency first, default 10); BENCH_BACKEND_PROF=<dir> writes the backend's
// CPU profile; BENCH_PROFILE_DIR=<dir> one of each row's logins only (login-<concurrency>.cpuprofile).
import './lib/bench-limits';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppClient, loginWithPin, registerUser, unary } from '@kfrm/app-client';
import { LoginServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { createSecretHasher, OWASP_ARGON2ID_PARAMETERS } from '@kfrm/credentials';
import { startBackendProcess } from './lib/backend-process';
import { transactionCounter } from './lib/pg-transactions';
import { formatRedisCallsPerOperation, readRedisCommandCalls, redisCallsDelta } from './lib/redis-commands';
import { cpuDelta, cpuMsByCommand, loadAverage } from './lib/process-cpu';

const seconds = Number(process.argv[2] ?? 5);
const concurrencies = (process.env.BENCH_CONCURRENCY ?? '1,16,64').split(',').map(Number);
const warmupSeconds = Number(process.env.BENCH_WARMUP_SECONDS ?? 10);
if (concurrencies.some((c) => !Number.isInteger(c) || c < 1 || c > 64) || !(warmupSeconds >= 0 && warmupSeconds <= 120)) {
  console.error('BENCH_CONCURRENCY: integers in 1..64; BENCH_WARMUP_SECONDS in [0, 120]');
  process.exit(2);
}
const PIN = '582916';
/** The servers the logins use besides the backend, by command name (their CPU per login is printed). */
const SERVERS = ['postgres', 'redis-server'] as const;

async function forDuration(workers: number, durationMs: number, work: (worker: number) => Promise<void>): Promise<number> {
  let done = 0;
  const until = Date.now() + durationMs;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (Date.now() < until) {
        await work(worker);
        done++;
      }
    }),
  );
  return done / (durationMs / 1000);
}

// The backend in its own process: the simulated phones' work (TLS, E2E encryption) runs here.
const backend = await startBackendProcess({
  services: ['user', 'device', 'e2e-key', 'auth'],
  authSettings: { secretChecksPerDeviceWindow: 1_000_000 },
  poolMax: 10,
});
try {
  const serverCaPem = await readFile(backend.serverCaCertFile);
  const address = `127.0.0.1:${backend.mobilePort}`;
  const maxWorkers = Math.max(...concurrencies);
  const phones: { app: AppClient; userToken: string }[] = [];
  for (let i = 0; i < maxWorkers; i++) {
    const app = new AppClient({ address, serverCaPem });
    await app.registerDevice();
    const user = await registerUser(app, {
      name: `Bench User ${i}`,
      phoneNumber: '010-2468-1357',
      deviceUuid: `bench-${i}`,
      pin: PIN,
      pattern: '14763',
      // One member per resident registration number: each bench user has its own.
      residentId: `900115-1${String(i).padStart(6, '0')}`,
      biometric: false,
    });
    phones.push({ app, userToken: user.userToken });
  }
  // Warm up every phone's connection and E2E keys, then log in unmeasured for a while: until V8
  // has compiled the hot paths its compiler threads add CPU to every login (a long-running server
  // does not pay that).
  await Promise.all(phones.map((p) => loginWithPin(p.app, p.userToken, PIN)));
  if (warmupSeconds > 0)
    await forDuration(maxWorkers, warmupSeconds * 1000, async (w) => {
      await loginWithPin(phones[w]!.app, phones[w]!.userToken, PIN);
    });
  const transactions = backend.databaseName ? transactionCounter(process.env.DATABASE_URL!, backend.databaseName) : undefined;
  // Redis commands per step (INFO commandstats), net of the backend's idle rate over the same quiet window.
  const redisUrl = process.env.REDIS_URL;
  const readRedis = () => (redisUrl ? readRedisCommandCalls(redisUrl) : new Map<string, number>());
  const idleRedisBefore = readRedis();
  const idleStarted = performance.now();
  const idlePerSecond = (await transactions?.measureIdle(5_000)) ?? Number.NaN;
  const idleRedisSeconds = (performance.now() - idleStarted) / 1000;
  const idleRedisPerSecond = new Map(
    [...redisCallsDelta(idleRedisBefore, readRedis())].map(([name, n]) => [name, n / idleRedisSeconds] as const),
  );

  // PostgreSQL transactions of each step: every phone makes the step in turn (16 at a time).
  const stepTransactions: string[] = [];
  const stepRedisCalls: string[] = [];
  if (transactions) {
    const inTurn = async (step: (i: number) => Promise<unknown>) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < phones.length) await step(next++);
        }),
      );
    };
    const processes: string[] = [];
    const steps: [string, (i: number) => Promise<unknown>][] = [
      [
        'PrepareLogin',
        async (i) => {
          const login = phones[i]!.app.client(LoginServiceClient);
          const { process } = await unary(login, login.prepareLogin, { userToken: phones[i]!.userToken });
          processes[i] = process!.processId;
        },
      ],
      [
        'AuthenticatePinForLogin',
        async (i) => {
          const { app, userToken } = phones[i]!;
          const authentication = app.client(AuthenticationServiceClient);
          const pin = await app.encrypt(EncryptedMessage_ProviderType.AUTH, PIN);
          await unary(authentication, authentication.authenticatePinForLogin, { userToken, processId: processes[i]!, pin });
        },
      ],
      [
        'Login',
        async (i) => {
          const login = phones[i]!.app.client(LoginServiceClient);
          await unary(login, login.login, { userToken: phones[i]!.userToken, processId: processes[i]! });
        },
      ],
    ];
    for (const [name, step] of steps) {
      let redis = '';
      const { transactions: count } = await transactions.around(async () => {
        const before = readRedis();
        const started = performance.now();
        await inTurn(step);
        const seconds = (performance.now() - started) / 1000;
        if (redisUrl)
          redis = formatRedisCallsPerOperation(redisCallsDelta(before, readRedis()), phones.length, idleRedisPerSecond, seconds);
      });
      stepTransactions.push(`${name} ${(count / phones.length).toFixed(2)}`);
      if (redis) stepRedisCalls.push(`  ${name}: ${redis}`);
    }
  }

  const hasher = createSecretHasher({ pepper: randomBytes(32) });
  const hash = await hasher.hashSecret(PIN);

  const rows: string[][] = [];
  const cpuRows: string[][] = [];
  for (const workers of concurrencies) {
    const load = loadAverage();
    let cpu = { backendMs: 0, backendMainThreadMs: 0, phones: process.cpuUsage(), servers: {} as Record<string, number> };
    let loginCount = 0;
    const profileDir = process.env.BENCH_PROFILE_DIR;
    const run = async () => {
      const before = { backend: await backend.threadsCpuMs(), phones: process.cpuUsage(), servers: cpuMsByCommand(SERVERS) };
      const rate = await forDuration(workers, seconds * 1000, (w) =>
        loginWithPin(phones[w]!.app, phones[w]!.userToken, PIN).then(() => {
          loginCount++;
        }),
      );
      // Right after the run, before the statistics settle: the idle wait is not the logins' CPU.
      const backendAfter = await backend.threadsCpuMs();
      cpu = {
        phones: process.cpuUsage(before.phones),
        servers: cpuDelta(before.servers, cpuMsByCommand(SERVERS)),
        backendMs: backendAfter.all - before.backend.all,
        backendMainThreadMs: backendAfter.mainThread - before.backend.mainThread,
      };
      return rate;
    };
    const profiled = () => (profileDir ? backend.profile(join(profileDir, `login-${workers}.cpuprofile`), run) : run());
    const counted = transactions ? await transactions.around(profiled) : { result: await profiled(), transactions: Number.NaN };
    const logins = counted.result;
    const { phones: phonesUsage, servers } = cpu;
    const perLogin = (ms: number) => (ms / loginCount).toFixed(1);
    const phonesMs = (phonesUsage.user + phonesUsage.system) / 1000;
    let verifyCount = 0;
    const verifyCpuBefore = process.cpuUsage();
    const verifies = await forDuration(workers, seconds * 1000, async () => {
      if (!(await hasher.verifySecret(hash, PIN))) throw new Error('verify failed');
      verifyCount++;
    });
    const verifyCpu = process.cpuUsage(verifyCpuBefore);
    const verifyMs = (verifyCpu.user + verifyCpu.system) / 1000 / verifyCount;
    const serverMs = cpu.backendMs + SERVERS.reduce((sum, name) => sum + servers[name]!, 0);
    cpuRows.push([
      String(workers),
      perLogin(cpu.backendMs),
      perLogin(cpu.backendMainThreadMs),
      perLogin(phonesMs),
      ...SERVERS.map((name) => perLogin(servers[name]!)),
      verifyMs.toFixed(1),
      (serverMs / loginCount / verifyMs).toFixed(2),
      // With the phones on the same cores, a server whose only cost was the verify could reach
      // no more logins per verify than this: what the phones take is not there for verifies.
      (verifyMs / (verifyMs + phonesMs / loginCount)).toFixed(2),
    ]);
    rows.push([
      String(workers),
      logins.toFixed(1),
      verifies.toFixed(1),
      (logins / verifies).toFixed(2),
      (counted.transactions / loginCount).toFixed(2),
      load,
    ]);
  }
  const p = OWASP_ARGON2ID_PARAMETERS;
  console.log(
    `argon2id m=${p.memoryCostKiB} KiB t=${p.timeCost} p=${p.parallelism}; ${seconds}s per step; UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`,
  );
  console.log(
    `database: ${backend.databaseSource}; store: ${process.env.REDIS_URL ? 'redis' : 'memory'}; backend in its own process, load generator in this one`,
  );
  console.log(`PostgreSQL idle: ${idlePerSecond.toFixed(1)} transactions/s (subtracted)`);
  console.log('| concurrency | logins/s (gRPC) | argon2 verifies/s | ratio | PG transactions/login | load avg |');
  console.log('|---:|---:|---:|---:|---:|---|');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  console.log('\nCPU per login (ms, all threads of each process; the argon2id verify is in the backend), against one verify at');
  console.log('the same concurrency (ms of CPU); the ceiling is logins per verify for a server that did nothing but the verify:');
  console.log(
    `| concurrency | backend | its main thread | phones (this process) | ${SERVERS.join(' | ')} | argon2id verify | server / verify | ceiling of logins / verifies |`,
  );
  console.log(`|---:|---:|---:|---:|${SERVERS.map(() => '---:').join('|')}|---:|---:|---:|`);
  for (const row of cpuRows) console.log(`| ${row.join(' | ')} |`);
  console.log(`\nPostgreSQL transactions per step: ${stepTransactions.join(', ') || 'not measured (PGlite)'}`);
  if (stepRedisCalls.length > 0)
    console.log(`Redis commands per step (INFO commandstats, idle rate taken off):\n${stepRedisCalls.join('\n')}`);
  console.log(`load average after: ${loadAverage()}`);
  for (const p of phones) p.app.close();
} finally {
  await backend.stop();
}
