// Statement trace of one transfer (not a benchmark): the backend in its own process with
// BENCH_TRACE_SQL, two customers, one warm-up transfer, then one PIN and one biometric transfer
// with markers between their calls. Prints each call's statements.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/trace-transfer.ts
import './lib/bench-limits';
import { mintLocalOperatorToken, operatorTokenInterceptor } from '@kfrm/runtime';
import { sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canonicalTransferBytes, unary } from '@kfrm/app-client';
import { signData } from '@kfrm/pki';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { TransferServiceClient } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { type Customer, krw, openCustomer, PIN } from '../tests/lib/bank-customer';
import { startBackendProcess } from './lib/backend-process';

const dir = await mkdtemp(join(tmpdir(), 'kfrm-trace-'));
const traceFile = join(dir, 'sql.log');
process.env.BENCH_TRACE_SQL = traceFile;
const backend = await startBackendProcess({ authSettings: { secretChecksPerDeviceWindow: 1000 } });
const internal = `127.0.0.1:${backend.internalPort}`;
const operator = {
  interceptors: [
    operatorTokenInterceptor(
      await mintLocalOperatorToken(backend.operatorIssuerDir, { roles: ['teller', 'kyc-reviewer'], subject: 'trace', ttlSeconds: 600 }),
    ),
  ],
};
const ledger = new LedgerServiceClient(internal, backend.internal.operatorTool(), operator);
const userAccounts = new UserAccountServiceClient(internal, backend.internal.operatorTool(), operator);
const customers: Customer[] = [];
try {
  const serverCaPem = await readFile(backend.serverCaCertFile);
  for (const i of [0, 1])
    customers.push(
      await openCustomer({
        label: `Trace ${i}`,
        address: `127.0.0.1:${backend.mobilePort}`,
        serverCaPem,
        fundingKrw: 900_000n,
        operator: { ledger, userAccounts },
        biometric: true,
      }),
    );
  const [a, b] = customers as [Customer, Customer];
  const mark = (label: string) => readFileSync(traceFile, 'utf8').split('\n').filter(Boolean).length + `:${label}`;
  const marks: string[] = [];
  const transfer = async (factor: 'PIN' | 'BIO', record: boolean) => {
    const at = (label: string) => record && marks.push(mark(label));
    const transfers = a.app.client(TransferServiceClient);
    const authentication = a.app.client(AuthenticationServiceClient);
    at(`${factor} start`);
    const pre = await unary(
      transfers,
      transfers.getPreCheck,
      {
        sourceAccountNumber: a.accountNumber,
        targetAccountNumber: b.accountNumber,
        targetInstitutionCode: '333',
        amount: krw(1n),
        recipientVisibleMessage: 'trace',
        selfVisibleMessage: 'trace',
      },
      a.session,
    );
    const processId = pre.process!.processId;
    await new Promise((r) => setTimeout(r, 300));
    at(`${factor} GetPreCheck done`);
    if (factor === 'PIN') {
      const pin = await a.app.encrypt(EncryptedMessage_ProviderType.AUTH, PIN);
      await unary(authentication, authentication.authenticatePin, { processId, pin }, a.session);
    } else {
      const signature = sign('sha256', Buffer.from(`kfrm-biometric-v1:${processId}`), a.user.biometricKey!.privateKey).toString('base64');
      await unary(authentication, authentication.authenticateBiometric, { processId, signature }, a.session);
    }
    await new Promise((r) => setTimeout(r, 300));
    at(`${factor} authenticate done`);
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
    await unary(
      transfers,
      transfers.execute,
      {
        recipientVisibleMessage: 'trace',
        selfVisibleMessage: 'trace',
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
    );
    await new Promise((r) => setTimeout(r, 300));
    at(`${factor} Execute done`);
  };
  await transfer('PIN', false);
  await transfer('PIN', true);
  await transfer('BIO', true);
  const lines = readFileSync(traceFile, 'utf8').split('\n').filter(Boolean);
  let from = 0;
  for (const m of marks) {
    const [n, label] = [Number(m.slice(0, m.indexOf(':'))), m.slice(m.indexOf(':') + 1)];
    if (!label.endsWith('start')) {
      const own = lines.slice(from, n).filter((l) => !/outbox|relay|pg_advisory|lease_until < |polled/.test(l));
      console.log(`\n== ${label}: ${n - from} statements (${own.length} without background pollers)`);
      for (const l of lines.slice(from, n)) console.log(`  ${l.slice(14, 214)}`);
    }
    from = n;
  }
} finally {
  for (const c of customers) c.app.close();
  ledger.close();
  userAccounts.close();
  await backend.stop();
  await rm(dir, { recursive: true, force: true });
}
