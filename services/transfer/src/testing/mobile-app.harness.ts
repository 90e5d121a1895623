// Test support: the app as it calls TransferService on the mobile listener — a device
// certificate from the real device service, a session in the stand-in user service, TLS.
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { AccountServiceClient } from '@kfrm/proto/gen/kfrm/api/account/account';
import { CurrencyCode, type MonetaryValue } from '@kfrm/proto/gen/kfrm/api/common/common';
import { DeviceServiceClient } from '@kfrm/proto/gen/kfrm/api/device/device';
import { TransferServiceClient, type ExecuteRequest, type GetPreCheckRequest } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { signedContent } from '../canonical';
import { OWN_INSTITUTION_CODE } from '../institutions';
import { fakeSign, type Harness } from './transfer.harness';

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => unknown;

const toPem = (der: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;

export const krw = (majorAmount: bigint, minorAmount = 0n): MonetaryValue => ({ currencyCode: CurrencyCode.KRW, majorAmount, minorAmount });

/** The error a call ended with; throws when it succeeded. */
export async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded');
}

/** A device certificate, then a session: what the app has before it calls session methods. */
export async function signInApp(h: Harness, userId: string) {
  const serverCa = await readFile(h.running.serverCaCertFile);
  const mobileAddress = `127.0.0.1:${h.running.mobilePort}`;
  const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const devices = new DeviceServiceClient(mobileAddress, grpc.credentials.createSsl(serverCa));
  const device = await new Promise<{ deviceId: bigint; certificate: string }>((resolve, reject) =>
    devices.createDevice({ publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string }, (e, r) =>
      e ? reject(e) : resolve(r),
    ),
  );
  devices.close();
  const token = `session-${userId}-${device.deviceId}-abcdefgh`;
  h.users.sessions.set(token, { userId, deviceId: device.deviceId });
  const credentials = grpc.credentials.createSsl(
    serverCa,
    Buffer.from(keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
    Buffer.from(toPem(Buffer.from(device.certificate, 'base64'))),
  );
  const client = new TransferServiceClient(mobileAddress, credentials);
  const accounts = new AccountServiceClient(mobileAddress, credentials);
  const metadata = (extra: Record<string, string>) => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    for (const [key, value] of Object.entries(extra)) md.set(key, value);
    return md;
  };
  const callOn = <Req, Res>(target: grpc.Client, fn: Unary<Req, Res>, req: Req, extra: Record<string, string> = {}): Promise<Res> =>
    new Promise((resolve, reject) => fn.call(target, req, metadata(extra), {}, (err, res) => (err ? reject(err) : resolve(res))));
  /** A TransferService call; `extra` metadata such as an idempotency-key. */
  const call = <Req, Res>(fn: Unary<Req, Res>, req: Req, extra?: Record<string, string>): Promise<Res> => callOn(client, fn, req, extra);
  /** An AccountService call. */
  const callAccount = <Req, Res>(fn: Unary<Req, Res>, req: Req): Promise<Res> => callOn(accounts, fn, req);
  return {
    client,
    accounts,
    call,
    callAccount,
    userId,
    close: () => {
      client.close();
      accounts.close();
    },
  };
}

export type MobileApp = Awaited<ReturnType<typeof signInApp>>;

export const preCheckRequest = (
  source: string,
  target: string,
  amount: MonetaryValue,
  institution = OWN_INSTITUTION_CODE,
): GetPreCheckRequest => ({
  sourceAccountNumber: source,
  targetAccountNumber: target,
  targetInstitutionCode: institution,
  amount,
  recipientVisibleMessage: '',
  selfVisibleMessage: '',
});

/** GetPreCheck, the user completes the process, the app signs the canonical bytes. */
export async function preCheckAndSign(h: Harness, app: MobileApp, request: GetPreCheckRequest): Promise<ExecuteRequest> {
  const res = await app.call(app.client.getPreCheck, request);
  const processId = res.process!.processId;
  h.users.complete(processId);
  const bytes = signedContent(processId, {
    sourceAccountNumber: request.sourceAccountNumber,
    targetInstitutionCode: request.targetInstitutionCode,
    targetAccountNumber: request.targetAccountNumber,
    currency: 'KRW',
    amountMinor: request.amount!.majorAmount,
  });
  return {
    recipientVisibleMessage: request.recipientVisibleMessage,
    selfVisibleMessage: request.selfVisibleMessage,
    authenticationProcessId: processId,
    signatureInfo: {
      signedData: fakeSign(app.userId, bytes),
      sourceAccountNumber: request.sourceAccountNumber,
      targetAccountNumber: request.targetAccountNumber,
      targetInstitutionCode: request.targetInstitutionCode,
      amount: request.amount,
    },
  };
}
