import type { webcrypto } from 'node:crypto';
import { signData } from '@kfrm/pki';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import {
  Authentication_AuthenticationStatus,
  AuthenticationProcess_ProcessStatus,
  AuthenticationType,
  CurrencyCode,
  EncryptedMessage_ProviderType,
  type MonetaryValue,
} from '@kfrm/proto/gen/kfrm/api/common/common';
import { TransferServiceClient, type ExecuteResponse } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import type { AppClient } from './app-client';
import { withSession } from './identity-flows';
import { unary } from './unary';

const { AUTH } = EncryptedMessage_ProviderType;

/** What the app signs for a transfer (docs/transfer-signing.md), built on the app's side. */
export interface SignedTransfer {
  processId: string;
  sourceAccountNumber: string;
  targetInstitutionCode: string;
  targetAccountNumber: string;
  /** KRW has no minor unit: the amount in won. */
  amountMinor: bigint;
}

/** The canonical bytes: UTF-8 JSON, no white space, keys in the documented order. */
export function canonicalTransferBytes(t: SignedTransfer): Uint8Array {
  const json = JSON.stringify({
    v: 1,
    process_id: t.processId,
    source_account_number: t.sourceAccountNumber,
    target_institution_code: t.targetInstitutionCode,
    target_account_number: t.targetAccountNumber,
    currency: 'KRW',
    amount_minor: t.amountMinor.toString(),
  });
  return new TextEncoder().encode(json);
}

export interface TransferOrder {
  sourceAccountNumber: string;
  targetAccountNumber: string;
  targetInstitutionCode: string;
  amountKrw: bigint;
  pin: string;
  /** The active signing certificate and its key (sign-up or ReissueSigningCertificate). */
  signingKey: webcrypto.CryptoKeyPair;
  signingCertificateDer: Uint8Array;
  memo?: string;
}

const krw = (won: bigint): MonetaryValue => ({ currencyCode: CurrencyCode.KRW, majorAmount: won, minorAmount: 0n });

/**
 * GetPreCheck → AuthenticatePin (the PIN, as the factor or the fallback every READY factor
 * offers) → a PKCS#7 signature over the canonical bytes → Execute. For amounts whose policy
 * needs a biometric without a PIN fallback, the caller drives the process itself.
 */
export async function transferWithPin(app: AppClient, sessionToken: string, order: TransferOrder): Promise<ExecuteResponse> {
  const transfers = app.client(TransferServiceClient);
  const authentication = app.client(AuthenticationServiceClient);
  const session = withSession(sessionToken);
  const amount = krw(order.amountKrw);
  const memo = order.memo ?? '';
  const preCheck = await unary(
    transfers,
    transfers.getPreCheck,
    {
      sourceAccountNumber: order.sourceAccountNumber,
      targetAccountNumber: order.targetAccountNumber,
      targetInstitutionCode: order.targetInstitutionCode,
      amount,
      recipientVisibleMessage: memo,
      selfVisibleMessage: memo,
    },
    session,
  );
  const process = preCheck.process;
  if (!preCheck.success || !process) throw new Error('GetPreCheck did not succeed');
  let current = process;
  for (let round = 0; current.status !== AuthenticationProcess_ProcessStatus.DONE; round++) {
    const next = current.authentications.find((a) => a.status === Authentication_AuthenticationStatus.READY);
    if (!next || round > process.authentications.length) throw new Error('the transfer process cannot be finished with the PIN');
    if (next.type !== AuthenticationType.PIN && next.fallback !== AuthenticationType.PIN)
      throw new Error(`the transfer process asks for ${AuthenticationType[next.type]} without a PIN fallback`);
    const done = await app.withEncrypted(AUTH, order.pin, (pin) =>
      unary(authentication, authentication.authenticatePin, { processId: process.processId, pin }, session),
    );
    if (!done.process) throw new Error('AuthenticatePin answered without a process');
    current = done.process;
  }
  const signed = await signData({
    content: canonicalTransferBytes({
      processId: process.processId,
      sourceAccountNumber: order.sourceAccountNumber,
      targetInstitutionCode: order.targetInstitutionCode,
      targetAccountNumber: order.targetAccountNumber,
      amountMinor: order.amountKrw,
    }),
    certificateDer: order.signingCertificateDer,
    privateKey: order.signingKey.privateKey,
    detached: false,
  });
  return unary(
    transfers,
    transfers.execute,
    {
      recipientVisibleMessage: memo,
      selfVisibleMessage: memo,
      authenticationProcessId: process.processId,
      signatureInfo: {
        signedData: signed.base64,
        sourceAccountNumber: order.sourceAccountNumber,
        targetAccountNumber: order.targetAccountNumber,
        targetInstitutionCode: order.targetInstitutionCode,
        amount,
      },
    },
    session,
  );
}
