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
import { sign } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { canonicalTransferBytes, unary } from '@kfrm/app-client';
import { signData } from '@kfrm/pki';
import { AccountServiceClient } from '@kfrm/proto/gen/kfrm/api/account/account';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { TransferServiceClient } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { mintLocalOperatorToken, operatorTokenInterceptor } from '@kfrm/runtime';
import { serviceModules } from '../packages/backend/src/service-modules';
import { type Customer, krw, openCustomer, PIN } from '../tests/lib/bank-customer';
import { startBackendProcess } from './lib/backend-process';
import { threadCpuMs } from './lib/process-cpu';

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
const loadAverage = () => readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');

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

const internal = `127.0.0.1:${backend.internalPort}`;
const token = await mintLocalOperatorToken(backend.operatorIssuerDir, {
  roles: ['teller', 'kyc-reviewer'],
  subject: 'call-cpu',
  ttlSeconds: 3600,
});
const operator = { interceptors: [operatorTokenInterceptor(token)] };
const ledger = new LedgerServiceClient(internal, backend.internal.operatorTool(), operator);
const userAccounts = new UserAccountServiceClient(internal, backend.internal.operatorTool(), operator);
const customers: Customer[] = [];
try {
  const serverCaPem = await readFile(backend.serverCaCertFile);
  for (const i of [0, 1])
    customers.push(
      await openCustomer({
        label: `Call CPU ${i}`,
        address: `127.0.0.1:${backend.mobilePort}`,
        serverCaPem,
        fundingKrw: 900_000n,
        operator: { ledger, userAccounts },
        biometric: true,
      }),
    );
  const [a, b] = customers as [Customer, Customer];
  const transfers = a.app.client(TransferServiceClient);
  const authentication = a.app.client(AuthenticationServiceClient);
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
  const transfer = async (factor: 'PIN' | 'BIO') => {
    const pre = await call('GetPreCheck', () =>
      unary(
        transfers,
        transfers.getPreCheck,
        {
          sourceAccountNumber: a.accountNumber,
          targetAccountNumber: b.accountNumber,
          targetInstitutionCode: '333',
          amount: krw(1n),
          recipientVisibleMessage: 'call-cpu',
          selfVisibleMessage: 'call-cpu',
        },
        a.session,
      ),
    );
    const processId = pre.process!.processId;
    if (factor === 'PIN') {
      const pin = await a.app.encrypt(EncryptedMessage_ProviderType.AUTH, PIN);
      await call('AuthenticatePin', () => unary(authentication, authentication.authenticatePin, { processId, pin }, a.session));
    } else {
      const signature = sign('sha256', Buffer.from(`kfrm-biometric-v1:${processId}`), a.user.biometricKey!.privateKey).toString('base64');
      await call('AuthenticateBiometric', () =>
        unary(authentication, authentication.authenticateBiometric, { processId, signature }, a.session),
      );
    }
    const signed = await signData({
      content: canonicalTransferBytes({
        processId,
        sourceAccountNumber: a.accountNumber,
        targetInstitutionCode: '333',
        targetAccountNumber: b.accountNumber,
        amountMinor: 1n,
      }),
      certificateDer: a.user.signingCertificateDer,
      privateKey: a.user.signingKey.privateKey,
      detached: false,
    });
    await call(`Execute (after ${factor})`, () =>
      unary(
        transfers,
        transfers.execute,
        {
          recipientVisibleMessage: 'call-cpu',
          selfVisibleMessage: 'call-cpu',
          authenticationProcessId: processId,
          signatureInfo: {
            signedData: signed.base64,
            sourceAccountNumber: a.accountNumber,
            targetAccountNumber: b.accountNumber,
            targetInstitutionCode: '333',
            amount: krw(1n),
          },
        },
        a.session,
      ),
    );
  };
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
  for (const c of customers) c.app.close();
  ledger.close();
  userAccounts.close();
  await backend.stop();
}
