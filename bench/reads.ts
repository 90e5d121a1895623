// Read benchmark (not a test): AccountService.GetAccount as the app calls it — over TLS with the
// device certificate and the session token, on the customer's own CASA account — against a bare
// grpc-js unary server with the same TLS and the generated codec answering a fixed response
// (bench/lib/bare-unary-server.ts), at 1, 16 and 64 clients (issue 17, target 5).
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/reads.ts
//
// Prints reads/s for both and their ratio, CPU per read of the server process (backend or bare),
// of this process (the phones) and of PostgreSQL + Redis, PostgreSQL transactions per read
// (pg_stat_database of the backend's scratch database, net of what it does with nobody calling)
// and the load average before each row. Env: BENCH_SECONDS (per run, default 5, at most 60),
// BENCH_CLIENTS (default "1,16,64", at most 64). Both servers run in child processes; the clients
// in this one, closed loops (each awaits its answer before the next). One connection per phone
// on both sides. BENCH_PROFILE_DIR=<dir> writes the backend's CPU profile of each kfrm run
// (reads-<clients>.cpuprofile; the runs only, not the set-up), BENCH_BACKEND_PROF=<dir> one of its whole life.
import './lib/bench-limits';
import { fork } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { unary } from '@kfrm/app-client';
import { AccountServiceClient } from '@kfrm/proto/gen/kfrm/api/account/account';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { mintLocalOperatorToken, operatorTokenInterceptor } from '@kfrm/runtime';
import { type Customer, openCustomer } from '../tests/lib/bank-customer';
import type { FromBareServer, ToBareServer } from './lib/bare-unary-server';
import { childAsker } from './lib/child-ask';
import { startBackendProcess } from './lib/backend-process';
import { cpuDelta, cpuMsByCommand, loadAverage } from './lib/process-cpu';
import { transactionCounter } from './lib/pg-transactions';

const databaseUrl = process.env.DATABASE_URL;
if (!databaseUrl || !process.env.REDIS_URL) {
  console.error('set DATABASE_URL and REDIS_URL (the backend runs on the real PostgreSQL and Redis)');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const clientCounts = (process.env.BENCH_CLIENTS ?? '1,16,64').split(',').map(Number);
if (!(seconds > 0 && seconds <= 60) || clientCounts.some((c) => !Number.isInteger(c) || c < 1 || c > 64)) {
  console.error('BENCH_SECONDS must be in (0, 60], BENCH_CLIENTS integers in 1..64');
  process.exit(2);
}
const maxClients = Math.max(...clientCounts);
const SERVERS = ['postgres', 'redis-server'] as const;
const SERVICES = ['user', 'device', 'e2e-key', 'auth', 'account', 'casa'];

// Setup (sign-ups: a few argon2 hashes each) plus per row two runs and the statistics' settling.
const watchdog = setTimeout(
  () => {
    console.error('bench/reads: watchdog fired, giving up');
    process.exit(1);
  },
  (600 + clientCounts.length * (2 * seconds + 60)) * 1000,
);
watchdog.unref();

interface Run {
  reads: number;
  perSecond: number;
  serverCpuMs: number;
  phonesCpuMs: number;
  dbCpuMs: number;
  failed: Map<string, number>;
}

/** Closed-loop clients calling `read` for `seconds`; CPU per read of the server (`serverCpuMs()`), this process and PG + Redis. */
async function closedLoop(clients: number, serverCpuMs: () => Promise<number>, read: (client: number) => Promise<void>): Promise<Run> {
  const failed = new Map<string, number>();
  let reads = 0;
  const serverBefore = await serverCpuMs();
  const phonesBefore = process.cpuUsage();
  const dbBefore = cpuMsByCommand(SERVERS);
  const begin = performance.now();
  const deadline = begin + seconds * 1000;
  await Promise.all(
    Array.from({ length: clients }, async (_, c) => {
      while (performance.now() < deadline) {
        try {
          await read(c);
          reads++;
        } catch (err) {
          const e = err as grpc.ServiceError;
          const key = e.code !== undefined ? `${grpc.status[e.code]}: ${e.details}` : String(err);
          failed.set(key, (failed.get(key) ?? 0) + 1);
        }
      }
    }),
  );
  const elapsed = (performance.now() - begin) / 1000;
  const phones = process.cpuUsage(phonesBefore);
  const db = cpuDelta(dbBefore, cpuMsByCommand(SERVERS));
  const per = (ms: number) => (reads ? ms / reads : Number.NaN);
  return {
    reads,
    perSecond: reads / elapsed,
    serverCpuMs: per((await serverCpuMs()) - serverBefore),
    phonesCpuMs: per((phones.user + phones.system) / 1000),
    dbCpuMs: per(db.postgres! + db['redis-server']!),
    failed,
  };
}

const backend = await startBackendProcess({ services: SERVICES, poolMax: 20 });
const bare = fork(fileURLToPath(new URL('./lib/bare-unary-server.ts', import.meta.url)), [], {
  execArgv: ['--import', 'tsx'],
  env: { ...process.env, BARE_SERVER_TLS: JSON.stringify(backend.mobileTls) },
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
const askBare = childAsker<ToBareServer, FromBareServer>(bare, 'bare server');
const bareCpuMs = async () => {
  const { usage } = await askBare({ type: 'cpu' }, 'cpu');
  return (usage.user + usage.system) / 1000;
};
const phones: Customer[] = [];
const bareClients: AccountServiceClient[] = [];
try {
  const { port: barePort } = await askBare(undefined, 'ready');
  if (!backend.databaseName) throw new Error('the backend must run on PostgreSQL (DATABASE_URL)');
  const transactions = transactionCounter(databaseUrl, backend.databaseName);
  const internalAddress = `127.0.0.1:${backend.internalPort}`;
  const operator = {
    interceptors: [
      operatorTokenInterceptor(
        await mintLocalOperatorToken(backend.operatorIssuerDir, { roles: ['teller', 'kyc-reviewer'], subject: 'bench', ttlSeconds: 3600 }),
      ),
    ],
  };
  const ledger = new LedgerServiceClient(internalAddress, backend.internal.operatorTool(), operator);
  const userAccounts = new UserAccountServiceClient(internalAddress, backend.internal.operatorTool(), operator);
  const serverCaPem = await readFile(backend.serverCaCertFile);
  const setupStart = performance.now();
  // A customer per client as a new customer becomes one: sign-up, login, KYC, CASA opening, funding.
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < maxClients) {
        const i = next++;
        phones[i] = await openCustomer({
          label: `Reader ${i}`,
          address: `127.0.0.1:${backend.mobilePort}`,
          serverCaPem,
          fundingKrw: 10_000n,
          operator: { ledger, userAccounts },
        });
      }
    }),
  );
  const setupSeconds = (performance.now() - setupStart) / 1000;
  // The bare server's clients: each phone's own device certificate, its own connection.
  for (const phone of phones) {
    const device = phone.app.device!;
    bareClients.push(
      new AccountServiceClient(
        `127.0.0.1:${barePort}`,
        grpc.credentials.createSsl(serverCaPem, Buffer.from(device.privateKeyPem), Buffer.from(device.certificatePem)),
      ),
    );
  }
  const readKfrm = async (c: number) => {
    const phone = phones[c]!;
    const accounts = phone.app.client(AccountServiceClient);
    const answer = await unary(accounts, accounts.getAccount, { accountNumber: phone.accountNumber }, phone.session);
    if (answer.accountNumber !== phone.accountNumber) throw new Error('GetAccount answered another account');
  };
  const readBare = async (c: number) => {
    const client = bareClients[c]!;
    await unary(client, client.getAccount, { accountNumber: phones[c]!.accountNumber });
  };
  // Warm up both sides: every connection open, code paths compiled.
  // A failed warm-up call (the shared machine overloaded) is retried by the next round.
  for (let round = 0; round < 20; round++)
    await Promise.all(phones.map((_, c) => Promise.all([readKfrm(c).catch(() => undefined), readBare(c).catch(() => undefined)])));
  const idlePerSecond = await transactions.measureIdle(5_000);

  const rows: string[] = [];
  const failures: string[] = [];
  for (const clients of clientCounts) {
    const load = loadAverage();
    const profileDir = process.env.BENCH_PROFILE_DIR;
    const run = () => closedLoop(clients, backend.cpuMs, readKfrm);
    const counted = await transactions.around(() =>
      profileDir ? backend.profile(join(profileDir, `reads-${clients}.cpuprofile`), run) : run(),
    );
    const kfrm = counted.result;
    const reference = await closedLoop(clients, bareCpuMs, readBare);
    for (const [name, run] of [
      ['kfrm', kfrm],
      ['bare', reference],
    ] as const)
      for (const [error, count] of run.failed) failures.push(`${clients} clients, ${name}: ${count} × ${error}`);
    rows.push(
      `| ${clients} | ${kfrm.perSecond.toFixed(0)} | ${reference.perSecond.toFixed(0)} | ${(kfrm.perSecond / reference.perSecond).toFixed(2)} | ` +
        `${kfrm.serverCpuMs.toFixed(2)} / ${reference.serverCpuMs.toFixed(2)} | ${kfrm.phonesCpuMs.toFixed(2)} / ${reference.phonesCpuMs.toFixed(2)} | ` +
        `${kfrm.dbCpuMs.toFixed(2)} | ${(counted.transactions / kfrm.reads).toFixed(3)} | ${load} |`,
    );
  }
  console.log(
    `GetAccount over TLS (device certificate + session), backend (${SERVICES.join(', ')}) on ${backend.databaseSource} + Redis vs bare grpc-js; ` +
      `${seconds} s per run; setup ${setupSeconds.toFixed(0)} s; PostgreSQL idle ${idlePerSecond.toFixed(1)} transactions/s (subtracted)`,
  );
  console.log(
    '| clients | kfrm reads/s | bare reads/s | kfrm / bare | server CPU ms/read (kfrm / bare) | client CPU ms/read (kfrm / bare) | PG+Redis CPU ms/read (kfrm) | PG transactions/read | load avg |',
  );
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const row of rows) console.log(row);
  console.log(`load average after: ${loadAverage()}`);
  if (failures.length) console.log(`failed calls:\n  ${failures.join('\n  ')}`);
  else console.log('failed calls: none');
} finally {
  for (const client of bareClients) client.close();
  for (const phone of phones) phone.app.close();
  bare.send({ type: 'stop' } satisfies ToBareServer);
  await backend.stop();
}
