// What each call of a transfer costs the backend in CPU, by thread (diagnostic, not a benchmark of
// rates): one phone, one call at a time, so a call's CPU is what the backend spent between its
// request and its answer, and nothing of another call's. The backend runs in its own process
// (compiled, as the benchmarks run it); its CPU is read from /proc per thread before and after
// each call: the main thread (the JavaScript: gRPC, TLS, SQL and Redis clients, the services'
// code) and the others (libuv's pool, where the argon2id verify runs, and V8's helper threads).
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/call-cpu.ts
//
// Env: BENCH_ROUNDS (measured rounds, default 300; each is a PIN transfer, a biometric transfer
// and a GetAccount), BENCH_WARMUP_ROUNDS (default 60), BENCH_WITHOUT (service modules left out,
// comma-separated, e.g. `notification`: what the notification relay's work per commit costs).
//
// /proc counts CPU in ticks of 10 ms, charged to the thread running when the tick falls: one
// call reads 0 or 10 ms, the mean over hundreds of calls is the figure. Work a call sets off
// after its answer (a relay's next step) lands in the next call's reading; the work the
// backend does with nobody calling (pollers) is measured first and printed, not subtracted.
import './lib/bench-limits';
import { readdirSync } from 'node:fs';
import { unary } from '@kfrm/app-client';
import { AccountServiceClient } from '@kfrm/proto/gen/kfrm/api/account/account';
import { serviceModules } from '../packages/backend/src/service-modules';
import { startBackendProcess } from './lib/backend-process';
import { threadCpuMs, loadAverage } from './lib/process-cpu';
import { openCustomerPair, type TransferFactor, transferOneKrw } from './lib/transfer-steps';

const rounds = Number(process.env.BENCH_ROUNDS ?? 300);
const warmupRounds = Number(process.env.BENCH_WARMUP_ROUNDS ?? 60);
const without = new Set(
  (process.env.BENCH_WITHOUT ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);
const known = new Set(serviceModules.map((m) => m.name));
if (
  !process.env.DATABASE_URL ||
  !(Number.isInteger(rounds) && rounds >= 10 && rounds <= 5000) ||
  !(Number.isInteger(warmupRounds) && warmupRounds >= 0 && warmupRounds <= 1000) ||
  [...without].some((name) => !known.has(name) || ['user', 'device', 'e2e-key', 'auth', 'account', 'casa', 'transfer'].includes(name))
) {
  console.error(
    'set DATABASE_URL (and REDIS_URL); BENCH_ROUNDS in 10..5000, BENCH_WARMUP_ROUNDS in 0..1000; ' +
      `BENCH_WITHOUT names modules a transfer does not need (${[...known].join(', ')})`,
  );
  process.exit(2);
}

const backend = await startBackendProcess({
  authSettings: { secretChecksPerDeviceWindow: 1_000_000 },
  services: serviceModules.map((m) => m.name).filter((name) => !without.has(name)),
});
/**
 * The backend's CPU so far, ms: its main thread and all its threads, each thread from
 * /proc/<pid>/task/<tid>/stat (the process-wide line is scaled differently, so the two would not
 * add up over a short stretch).
 */
function backendCpu(): { main: number; all: number } {
  const main = threadCpuMs(backend.pid);
  if (main === undefined) throw new Error('no /proc: this diagnostic reads the backend per thread (Linux)');
  let all = 0;
  for (const tid of readdirSync(`/proc/${backend.pid}/task`)) all += threadCpuMs(backend.pid, Number(tid)) ?? 0;
  return { main, all };
}

let closeCustomers = () => {};
try {
  const pair = await openCustomerPair(backend, 'Call CPU');
  closeCustomers = pair.close;
  const [a, b] = pair.customers;
  const accounts = a.app.client(AccountServiceClient);

  const perCall = new Map<string, { main: number; all: number; calls: number }>();
  let measuring = false;
  const call = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
    const before = backendCpu();
    const result = await work();
    const after = backendCpu();
    if (measuring) {
      const entry = perCall.get(name) ?? { main: 0, all: 0, calls: 0 };
      entry.main += after.main - before.main;
      entry.all += after.all - before.all;
      entry.calls++;
      perCall.set(name, entry);
    }
    return result;
  };
  const callNames = { PIN: 'AuthenticatePin', BIO: 'AuthenticateBiometric' } as const;
  const transfer = (factor: TransferFactor) =>
    transferOneKrw(
      a,
      b,
      factor,
      (step, work) => call(step === 'authenticate' ? callNames[factor] : step === 'Execute' ? `Execute (after ${factor})` : step, work),
      'call-cpu',
    );
  const round = async () => {
    await transfer('PIN');
    await transfer('BIO');
    await call('GetAccount', () => unary(accounts, accounts.getAccount, { accountNumber: a.accountNumber }, a.session));
  };

  for (let i = 0; i < warmupRounds; i++) await round();
  // What the backend spends with nobody calling: its pollers and timers, over 5 s.
  const idleBefore = backendCpu();
  await new Promise((resolve) => setTimeout(resolve, 5000));
  const idleAfter = backendCpu();
  const loadBefore = loadAverage();
  measuring = true;
  for (let i = 0; i < rounds; i++) await round();
  measuring = false;

  console.log(
    `\nbackend CPU per call, ms (one phone, one call at a time, ${rounds} rounds after ${warmupRounds} unmeasured; ` +
      `modules left out: ${[...without].join(', ') || 'none'})`,
  );
  console.log(
    `with nobody calling: main thread ${((idleAfter.main - idleBefore.main) / 5).toFixed(1)} ms per s, ` +
      `all threads ${((idleAfter.all - idleBefore.all) / 5).toFixed(1)} ms per s`,
  );
  console.log('| call | calls | main thread | other threads (libuv pool, V8 helpers) | all |');
  console.log('|---|---:|---:|---:|---:|');
  for (const [name, e] of perCall) {
    const main = e.main / e.calls;
    const all = e.all / e.calls;
    console.log(`| ${name} | ${e.calls} | ${main.toFixed(2)} | ${(all - main).toFixed(2)} | ${all.toFixed(2)} |`);
  }
  const mainOf = (name: string) => {
    const e = perCall.get(name);
    return e ? e.main / e.calls : Number.NaN;
  };
  const pinMain = mainOf('GetPreCheck') + mainOf('AuthenticatePin') + mainOf('Execute (after PIN)');
  const bioMain = mainOf('GetPreCheck') + mainOf('AuthenticateBiometric') + mainOf('Execute (after BIO)');
  console.log(
    `main thread per transfer: PIN ${pinMain.toFixed(2)} ms, biometric ${bioMain.toFixed(2)} ms; ` +
      `a GetAccount (one session call, one statement) ${mainOf('GetAccount').toFixed(2)} ms`,
  );
  console.log(`load average before: ${loadBefore}, after: ${loadAverage()}`);
} finally {
  closeCustomers();
  await backend.stop();
}
