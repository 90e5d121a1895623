// One transfer of 1 KRW between two customers, as the app makes it — GetPreCheck, the factor's
// authentication, the PKCS#7 signature over the canonical bytes, Execute — for the diagnostics
// that look at one call at a time (bench/trace-transfer.ts, bench/call-cpu.ts). Each call runs
// through the caller's `runStep`, which may mark, time or measure around it.
import { sign } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { canonicalTransferBytes, unary } from '@kfrm/app-client';
import { signData } from '@kfrm/pki';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { TransferServiceClient } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { mintLocalOperatorToken, operatorTokenInterceptor } from '@kfrm/runtime';
import { type Customer, krw, openCustomer, PIN } from '../../tests/lib/bank-customer';
import type { BackendProcess } from './backend-process';

/** PIN: AuthenticatePin with the E2E-encrypted PIN; BIO: AuthenticateBiometric with the device's biometric key. */
export type TransferFactor = 'PIN' | 'BIO';
export type TransferStep = 'GetPreCheck' | 'authenticate' | 'Execute';
/** Runs one call of the transfer and answers what it answered. */
export type StepRunner = <T>(step: TransferStep, call: () => Promise<T>) => Promise<T>;

const runPlainly: StepRunner = (_step, call) => call();

/**
 * `from` sends 1 KRW to `to` (an account of this institution, '333'), authenticating with
 * `factor`; `memo` is both the recipient's and the sender's message. Throws what a call threw.
 */
export async function transferOneKrw(
  from: Customer,
  to: Customer,
  factor: TransferFactor,
  runStep: StepRunner = runPlainly,
  memo = 'bench',
) {
  const transfers = from.app.client(TransferServiceClient);
  const authentication = from.app.client(AuthenticationServiceClient);
  const terms = { sourceAccountNumber: from.accountNumber, targetInstitutionCode: '333', targetAccountNumber: to.accountNumber };
  const pre = await runStep('GetPreCheck', () =>
    unary(
      transfers,
      transfers.getPreCheck,
      { ...terms, amount: krw(1n), recipientVisibleMessage: memo, selfVisibleMessage: memo },
      from.session,
    ),
  );
  const processId = pre.process!.processId;
  if (factor === 'PIN') {
    const pin = await from.app.encrypt(EncryptedMessage_ProviderType.AUTH, PIN);
    await runStep('authenticate', () => unary(authentication, authentication.authenticatePin, { processId, pin }, from.session));
  } else {
    const signature = sign('sha256', Buffer.from(`kfrm-biometric-v1:${processId}`), from.user.biometricKey!.privateKey).toString('base64');
    await runStep('authenticate', () =>
      unary(authentication, authentication.authenticateBiometric, { processId, signature }, from.session),
    );
  }
  const signed = await signData({
    content: canonicalTransferBytes({ processId, ...terms, amountMinor: 1n }),
    certificateDer: from.user.signingCertificateDer,
    privateKey: from.user.signingKey.privateKey,
    detached: false,
  });
  return runStep('Execute', () =>
    unary(
      transfers,
      transfers.execute,
      {
        recipientVisibleMessage: memo,
        selfVisibleMessage: memo,
        authenticationProcessId: processId,
        signatureInfo: { signedData: signed.base64, ...terms, amount: krw(1n) },
      },
      from.session,
    ),
  );
}

/**
 * Two customers of `backend`, each with a biometric key and an account funded with 900,000 KRW,
 * opened as the demo opens them (the operator's calls with a local operator token). `close`
 * closes their phones and the operator's clients; on a failed set-up what was opened is closed.
 */
export async function openCustomerPair(
  backend: BackendProcess,
  label: string,
): Promise<{ customers: [Customer, Customer]; close(): void }> {
  const internal = `127.0.0.1:${backend.internalPort}`;
  const token = await mintLocalOperatorToken(backend.operatorIssuerDir, {
    roles: ['teller', 'kyc-reviewer'],
    subject: label,
    ttlSeconds: 3600,
  });
  const operator = { interceptors: [operatorTokenInterceptor(token)] };
  const ledger = new LedgerServiceClient(internal, backend.internal.operatorTool(), operator);
  const userAccounts = new UserAccountServiceClient(internal, backend.internal.operatorTool(), operator);
  const customers: Customer[] = [];
  const close = () => {
    for (const c of customers) c.app.close();
    ledger.close();
    userAccounts.close();
  };
  try {
    const serverCaPem = await readFile(backend.serverCaCertFile);
    for (const i of [0, 1])
      customers.push(
        await openCustomer({
          label: `${label} ${i}`,
          address: `127.0.0.1:${backend.mobilePort}`,
          serverCaPem,
          fundingKrw: 900_000n,
          operator: { ledger, userAccounts },
          biometric: true,
        }),
      );
  } catch (err) {
    close();
    throw err;
  }
  return { customers: customers as [Customer, Customer], close };
}
