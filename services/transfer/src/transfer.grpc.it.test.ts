// TransferService as the app calls it: over TLS with a device certificate (issued by the real
// device service) and a session token, through the real mobile guard, on the real ledger, with
// the stand-in user service (testing/transfer.harness.ts) for sessions, processes and signatures.
import { generateKeyPairSync } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CurrencyCode, type MonetaryValue } from '@kfrm/proto/gen/kfrm/api/common/common';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { DeviceServiceClient } from '@kfrm/proto/gen/kfrm/api/device/device';
import {
  ExecuteApiError,
  ExecuteApiError_ErrorCode,
  GetPreCheckApiError,
  GetPreCheckApiError_ErrorCode,
  GetTargetAccountInfoApiError,
  GetTargetAccountInfoApiError_ErrorCode,
  TransferServiceClient,
  type ExecuteRequest,
  type GetPreCheckRequest,
} from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { apiErrorCode } from '@kfrm/server-kit';
// The real device service issues the app's certificate (a test-only need, imported by path).
import { deviceModule } from '../../device/src/device.module';
import { signedContent } from './canonical';
import { OWN_INSTITUTION_CODE } from './institutions';
import { fakeSign, startHarness, type Harness } from './testing/transfer.harness';
import { createTransferModule } from './transfer.module';

const A = '1000000001';
const B = '1000000002';

const toPem = (der: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;
const krw = (majorAmount: bigint, minorAmount = 0n): MonetaryValue => ({ currencyCode: CurrencyCode.KRW, majorAmount, minorAmount });

type Unary<Req, Res> = (
  req: Req,
  md: grpc.Metadata,
  opts: Partial<grpc.CallOptions>,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => unknown;

async function failure(promise: Promise<unknown>): Promise<grpc.ServiceError> {
  try {
    await promise;
  } catch (err) {
    return err as grpc.ServiceError;
  }
  throw new Error('the call succeeded');
}

let h: Harness;
let serverCa: Buffer;
let mobileAddress: string;

beforeAll(async () => {
  h = await startHarness([deviceModule, createTransferModule({ env: { KFRM_TRANSFER_ICON_BASE_URL: 'https://icons.test/i' } })]);
  serverCa = await readFile(h.running.serverCaCertFile);
  mobileAddress = `127.0.0.1:${h.running.mobilePort}`;
}, 60_000);

afterAll(async () => {
  await h?.close();
});

/** A device certificate, then a session: what the app has before it calls session methods. */
async function signIn(userId: string) {
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
  const client = new TransferServiceClient(
    mobileAddress,
    grpc.credentials.createSsl(
      serverCa,
      Buffer.from(keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
      Buffer.from(toPem(Buffer.from(device.certificate, 'base64'))),
    ),
  );
  const metadata = () => {
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${token}`);
    return md;
  };
  const call = <Req, Res>(fn: Unary<Req, Res>, req: Req, md = metadata()): Promise<Res> =>
    new Promise((resolve, reject) => fn.call(client, req, md, {}, (err, res) => (err ? reject(err) : resolve(res))));
  return { client, call, userId };
}

type App = Awaited<ReturnType<typeof signIn>>;

/** GetPreCheck, the user completes the process, the app signs the canonical bytes. */
async function preCheckAndSign(app: App, request: GetPreCheckRequest): Promise<ExecuteRequest> {
  const res = await app.call(app.client.getPreCheck, request);
  expect(res.success).toBe(true);
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

const preCheck = (source: string, target: string, amount: MonetaryValue, institution = OWN_INSTITUTION_CODE): GetPreCheckRequest => ({
  sourceAccountNumber: source,
  targetAccountNumber: target,
  targetInstitutionCode: institution,
  amount,
  recipientVisibleMessage: '',
  selfVisibleMessage: '',
});

describe('TransferService over gRPC with a session', () => {
  it('lists institutions, shows source and target, pre-checks, executes once, lists the latest target', async () => {
    const app = await signIn(A);
    const a = await h.openAccount(A, 100_000n);
    const b = await h.openAccount(B, 0n);

    const { institutions } = await app.call(app.client.listTargetInstitutions, {});
    expect(institutions).toHaveLength(30);
    expect(institutions[0]).toEqual({
      code: OWN_INSTITUTION_CODE,
      name: 'KFRM뱅크',
      iconUrl: `https://icons.test/i/${OWN_INSTITUTION_CODE}.png`,
    });
    expect(institutions).toContainEqual({ code: '088', name: '신한은행', iconUrl: 'https://icons.test/i/088.png' });

    expect(await app.call(app.client.getSourceAccountInfo, { accountNumber: a.accountNumber })).toEqual({
      accountNumber: a.accountNumber,
      accountName: '입출금통장',
      balance: krw(100_000n),
    });
    expect(
      await app.call(app.client.getTargetAccountInfo, { accountNumber: b.accountNumber, institutionCode: OWN_INSTITUTION_CODE }),
    ).toEqual({
      accountNumber: b.accountNumber,
      accountName: '김*수',
    });

    const execute = await preCheckAndSign(app, {
      ...preCheck(a.accountNumber, b.accountNumber, krw(25_000n)),
      recipientVisibleMessage: '회비',
    });
    expect(await app.call(app.client.execute, execute)).toEqual({ success: true });
    // The app did not hear the answer and retries: same answer, no more money moved.
    expect(await app.call(app.client.execute, execute)).toEqual({ success: true });
    expect(await h.balance(A, a.accountNumber)).toBe(75_000n);
    expect(await h.balance(B, b.accountNumber)).toBe(25_000n);

    const { targets } = await app.call(app.client.listLatestTargets, {});
    expect(targets[0]).toEqual({
      accountNumber: b.accountNumber,
      accountName: '김*수',
      institution: { code: OWN_INSTITUTION_CODE, name: 'KFRM뱅크', iconUrl: `https://icons.test/i/${OWN_INSTITUTION_CODE}.png` },
    });
  });

  it('consumes the process with the read that authorises Execute, and not again at the drive (issue 17)', async () => {
    const app = await signIn(A);
    const a = await h.openAccount(A, 10_000n);
    const b = await h.openAccount(B, 0n);
    const execute = await preCheckAndSign(app, preCheck(a.accountNumber, b.accountNumber, krw(1_000n)));
    const before = { ...h.users.calls };
    expect(await app.call(app.client.execute, execute)).toEqual({ success: true });
    expect(h.users.processes.get(execute.authenticationProcessId)!.consumed).toBe(true);
    expect(h.users.calls.getProcess - before.getProcess).toBe(1);
    expect(h.users.calls.consumeProcess - before.consumeProcess).toBe(0);
  });

  it('answers each seed error with its code and status', async () => {
    const app = await signIn(A);
    const a = await h.openAccount(A, 10_000n);
    const b = await h.openAccount(B, 0n);
    const preCheckError = async (request: GetPreCheckRequest) => {
      const err = await failure(app.call(app.client.getPreCheck, request));
      return [err.code, apiErrorCode(err, GetPreCheckApiError)];
    };
    expect(await preCheckError(preCheck(a.accountNumber, b.accountNumber, krw(10_001n)))).toEqual([
      grpc.status.FAILED_PRECONDITION,
      GetPreCheckApiError_ErrorCode.INSUFFICIENT_BALANCE,
    ]);
    expect(await preCheckError(preCheck(a.accountNumber, '3333-00000000000', krw(1n)))).toEqual([
      grpc.status.INVALID_ARGUMENT,
      GetPreCheckApiError_ErrorCode.INVALID_TARGET_ACCOUNT,
    ]);
    expect(await preCheckError(preCheck(a.accountNumber, '110-234-567890', krw(1n), '998'))).toEqual([
      grpc.status.INVALID_ARGUMENT,
      GetPreCheckApiError_ErrorCode.INVALID_TARGET_INSTITUTION,
    ]);
    expect(await preCheckError(preCheck(b.accountNumber, a.accountNumber, krw(1n)))).toEqual([
      grpc.status.INVALID_ARGUMENT,
      GetPreCheckApiError_ErrorCode.INVALID_SOURCE_ACCOUNT,
    ]);

    // Amounts that are not a positive whole KRW amount within int64.
    for (const amount of [krw(0n), krw(-5n), krw(1n, 50n), { ...krw(1n), currencyCode: CurrencyCode.USD }, undefined]) {
      const err = await failure(app.call(app.client.getPreCheck, { ...preCheck(a.accountNumber, b.accountNumber, krw(1n)), amount }));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
    }

    const targetError = async (institutionCode: string, accountNumber: string) => {
      const err = await failure(app.call(app.client.getTargetAccountInfo, { institutionCode, accountNumber }));
      return [err.code, apiErrorCode(err, GetTargetAccountInfoApiError)];
    };
    expect(await targetError('088', '110-234-560000')).toEqual([
      grpc.status.NOT_FOUND,
      GetTargetAccountInfoApiError_ErrorCode.NOT_VALID_ACCOUNT,
    ]);
    expect(await targetError('088', '999-234-567890')).toEqual([
      grpc.status.FAILED_PRECONDITION,
      GetTargetAccountInfoApiError_ErrorCode.BLOCKED_ACCOUNT,
    ]);
    expect(await targetError(OWN_INSTITUTION_CODE, '3333-00000000000')).toEqual([
      grpc.status.NOT_FOUND,
      GetTargetAccountInfoApiError_ErrorCode.NOT_VALID_ACCOUNT,
    ]);

    // Execute: an altered amount is refused as a failed signature verification.
    const execute = await preCheckAndSign(app, preCheck(a.accountNumber, b.accountNumber, krw(6_000n)));
    const altered = await failure(
      app.call(app.client.execute, { ...execute, signatureInfo: { ...execute.signatureInfo!, amount: krw(60_000n) } }),
    );
    expect(altered.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(apiErrorCode(altered, CommonApiError)).toBe(CommonApiError_ErrorCode.DIGITAL_SIGNATURE_VERIFICATION_FAILED);

    // Execute: the balance went elsewhere after the pre-check.
    const other = await preCheckAndSign(app, preCheck(a.accountNumber, b.accountNumber, krw(5_000n)));
    await app.call(app.client.execute, other);
    const poor = await failure(app.call(app.client.execute, execute));
    expect([poor.code, apiErrorCode(poor, ExecuteApiError)]).toEqual([
      grpc.status.FAILED_PRECONDITION,
      ExecuteApiError_ErrorCode.INSUFFICIENT_BALANCE,
    ]);
    expect(await h.balance(A, a.accountNumber)).toBe(5_000n);

    // No session: nothing at all.
    const anonymous = await failure(app.call(app.client.listLatestTargets, {}, new grpc.Metadata()));
    expect(anonymous.code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('answers malformed requests to every method without INTERNAL, and keeps signatures and memos out of the logs', async () => {
    const app = await signIn(A);
    const a = await h.openAccount(A, 10_000n);
    const huge = '9'.repeat(100_000);
    const int64Max = 2n ** 63n - 1n;
    const calls: (() => Promise<unknown>)[] = [
      () => app.call(app.client.getSourceAccountInfo, { accountNumber: '' }),
      () => app.call(app.client.getSourceAccountInfo, { accountNumber: huge }),
      () => app.call(app.client.getTargetAccountInfo, { accountNumber: '', institutionCode: '' }),
      () => app.call(app.client.getTargetAccountInfo, { accountNumber: huge, institutionCode: '088' }),
      () => app.call(app.client.getTargetAccountInfo, { accountNumber: "1' or '1'='1", institutionCode: OWN_INSTITUTION_CODE }),
      () => app.call(app.client.getPreCheck, { ...preCheck('', '', undefined as never), amount: undefined }),
      () => app.call(app.client.getPreCheck, preCheck(a.accountNumber, huge, krw(1n))),
      () => app.call(app.client.getPreCheck, preCheck(a.accountNumber, '3333-00000000000', krw(int64Max))),
      () =>
        app.call(
          app.client.getPreCheck,
          preCheck(a.accountNumber, '3333-00000000000', { currencyCode: 99 as CurrencyCode, majorAmount: 1n, minorAmount: 0n }),
        ),
      () =>
        app.call(app.client.execute, {
          recipientVisibleMessage: '',
          selfVisibleMessage: '',
          authenticationProcessId: '',
          signatureInfo: undefined,
        }),
      () =>
        app.call(app.client.execute, {
          recipientVisibleMessage: '',
          selfVisibleMessage: '',
          authenticationProcessId: huge,
          signatureInfo: {
            signedData: huge,
            sourceAccountNumber: huge,
            targetAccountNumber: '',
            targetInstitutionCode: '',
            amount: krw(-int64Max),
          },
        }),
    ];
    for (const start of calls) {
      const err = await failure(start());
      expect([
        grpc.status.INVALID_ARGUMENT,
        grpc.status.NOT_FOUND,
        grpc.status.FAILED_PRECONDITION,
        grpc.status.PERMISSION_DENIED,
        grpc.status.RESOURCE_EXHAUSTED,
      ]).toContain(err.code);
    }

    const b = await h.openAccount(B, 0n);
    const execute = await preCheckAndSign(app, {
      ...preCheck(a.accountNumber, b.accountNumber, krw(1_000n)),
      recipientVisibleMessage: '비밀메모-7731',
    });
    await app.call(app.client.execute, execute);
    const logs = h.logs.text();
    expect(logs).toContain('transfer succeeded');
    expect(logs).not.toContain(execute.signatureInfo!.signedData);
    expect(logs).not.toContain('비밀메모-7731');
    expect(logs).not.toContain(b.accountNumber);
  });

  it("never lets one user use, see or execute with another user's source account or process", async () => {
    const appA = await signIn(A);
    const appB = await signIn(B);
    const a = await h.openAccount(A, 10_000n);
    const b = await h.openAccount(B, 10_000n);

    const seen = await failure(appB.call(appB.client.getSourceAccountInfo, { accountNumber: a.accountNumber }));
    const missing = await failure(appB.call(appB.client.getSourceAccountInfo, { accountNumber: '3333-00000000000' }));
    // Someone else's account answers exactly like one that does not exist.
    expect([seen.code, apiErrorCode(seen, GetPreCheckApiError), seen.details]).toEqual([
      missing.code,
      apiErrorCode(missing, GetPreCheckApiError),
      missing.details,
    ]);
    expect(apiErrorCode(seen, GetPreCheckApiError)).toBe(GetPreCheckApiError_ErrorCode.INVALID_SOURCE_ACCOUNT);

    const usesA = await failure(appB.call(appB.client.getPreCheck, preCheck(a.accountNumber, b.accountNumber, krw(1_000n))));
    expect(apiErrorCode(usesA, GetPreCheckApiError)).toBe(GetPreCheckApiError_ErrorCode.INVALID_SOURCE_ACCOUNT);

    // B presents A's pre-checked, signed transfer: refused, and A can still execute it.
    const executeA = await preCheckAndSign(appA, preCheck(a.accountNumber, b.accountNumber, krw(1_000n)));
    const stolen = await failure(appB.call(appB.client.execute, executeA));
    expect([stolen.code, apiErrorCode(stolen, CommonApiError)]).toEqual([
      grpc.status.PERMISSION_DENIED,
      CommonApiError_ErrorCode.DIGITAL_SIGNATURE_VERIFICATION_FAILED,
    ]);
    // B signs A's transfer with B's own key: still A's transfer, still refused.
    const resigned = { ...executeA, signatureInfo: { ...executeA.signatureInfo!, signedData: fakeSign(B, 'anything') } };
    expect((await failure(appB.call(appB.client.execute, resigned))).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(await h.balance(A, a.accountNumber)).toBe(10_000n);
    await appA.call(appA.client.execute, executeA);
    expect(await h.balance(A, a.accountNumber)).toBe(9_000n);

    // Latest targets are each user's own history.
    const latestB = await appB.call(appB.client.listLatestTargets, {});
    expect(latestB.targets.map((t) => t.accountNumber)).not.toContain(b.accountNumber);
    const latestA = await appA.call(appA.client.listLatestTargets, {});
    expect(latestA.targets.map((t) => t.accountNumber)).toContain(b.accountNumber);
  });
});
