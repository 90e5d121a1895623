// CASA opening as the app drives it: over TLS with a device certificate and a session token,
// through the real mobile guard, with the casa module as it runs (pepper made in the data
// directory, migrations on start). The user and ledger services are fakes on the internal
// listener. Every method acts on the session's user only: no request names a user.
import { generateKeyPairSync } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '@kfrm/db/test-database';
import { createCapturingDestination } from '@kfrm/logging';
import {
  AgreeTermsApiError,
  AgreeTermsApiError_ErrorCode,
  CasaOpeningServiceClient,
  CompleteOpeningApiError,
  CompleteOpeningApiError_ErrorCode,
  InitiateOpeningApiError,
  InitiateOpeningApiError_ErrorCode,
  UserStatus as OpeningUserStatus,
} from '@kfrm/proto/gen/kfrm/api/casa/casa';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { DeviceServiceClient } from '@kfrm/proto/gen/kfrm/api/device/device';
import { KycStatus } from '@kfrm/proto/gen/kfrm/api/user/user';
// The real device service issues the app's certificate. Imported by path: a test-only need.
import { deviceModule } from '../../device/src/device.module';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { apiErrorCode } from '@kfrm/server-kit';
import { createCasaModule } from './casa.module';
import { CASA_SCHEMA, type CasaDatabase } from './casa.table';
import { fakeLedgerService, fakeUserService, readyUser } from './testing/upstreams.fake';

const toPem = (der: Buffer) =>
  `-----BEGIN CERTIFICATE-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE-----\n`;

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

const MANDATORY = [1n, 2n, 3n].map((termId) => ({ termId, agreed: true }));

describe('CASA opening over gRPC with a session', () => {
  const users = fakeUserService();
  const ledger = fakeLedgerService();
  const logs = createCapturingDestination();
  let services: TestServices;
  let database: TestDatabase;
  let serverCa: Buffer;
  let mobileAddress: string;
  let nextUser = 3_000_000_000;

  beforeAll(async () => {
    services = await startTestServices([deviceModule, users.module, ledger.module, createCasaModule({ env: {} })], {
      name: 'casa-test',
      logDestination: logs,
    });
    ({ database } = services);
    ({ serverCaPem: serverCa, mobileAddress } = services);
  }, 60_000);

  afterAll(async () => {
    await services?.close();
  });

  /** A device certificate from the device service, then a session the fake user service resolves. */
  async function signIn(record = readyUser(), userId = String(++nextUser)) {
    users.users.set(userId, record);
    const keys = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const devices = new DeviceServiceClient(mobileAddress, grpc.credentials.createSsl(serverCa));
    const device = await new Promise<{ deviceId: bigint; certificate: string }>((resolve, reject) =>
      devices.createDevice({ publicKey: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string }, (e, r) =>
        e ? reject(e) : resolve(r),
      ),
    );
    devices.close();
    const token = `session-${userId}-${device.deviceId}-abcdefgh`;
    users.sessions.set(token, { userId, deviceId: device.deviceId });
    const client = new CasaOpeningServiceClient(
      mobileAddress,
      grpc.credentials.createSsl(
        serverCa,
        Buffer.from(keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
        Buffer.from(toPem(Buffer.from(device.certificate, 'base64'))),
      ),
    );
    const session = () => {
      const md = new grpc.Metadata();
      md.set('authorization', `Bearer ${token}`);
      return md;
    };
    const call = <Req, Res>(fn: Unary<Req, Res>, req: Req, md = session()): Promise<Res> =>
      new Promise((resolve, reject) => fn.call(client, req, md, {}, (err, res) => (err ? reject(err) : resolve(res))));
    return { userId, client, call };
  }

  const openingRows = (userId: string) =>
    database.kysely<CasaDatabase>(CASA_SCHEMA).selectFrom('openings').selectAll().where('user_id', '=', userId).execute();

  it('opens an account: status, terms, agreement, completion with the transfer limit', async () => {
    const { userId, client, call } = await signIn();
    try {
      expect((await call(client.initiateOpening, {})).userStatus).toBe(OpeningUserStatus.OK);
      const { terms } = await call(client.listTerms, {});
      expect(terms.map((t) => [t.id, t.mandatory])).toEqual([
        [1n, true],
        [2n, true],
        [3n, true],
        [4n, false],
      ]);
      expect(await call(client.agreeTerms, { agreements: terms.map((t) => ({ termId: t.id, agreed: true })) })).toEqual({ success: true });

      const opened = await call(client.completeOpening, { password: '3692' });
      expect(opened.success).toBe(true);
      expect(opened.account?.transferLimit).toEqual({ currencyCode: CurrencyCode.KRW, majorAmount: 5_000_000n, minorAmount: 0n });
      const created = ledger.created.filter((c) => c.request.ownerUserId === userId);
      expect(created).toHaveLength(1);
      expect(opened.account?.accountNumber).toBe(created[0]!.accountNumber);
      expect((await call(client.initiateOpening, {})).userStatus).toBe(OpeningUserStatus.OK);

      const twice = await failure(call(client.completeOpening, { password: '3692' }));
      expect(twice.code).toBe(grpc.status.ALREADY_EXISTS);
      expect(apiErrorCode(twice, CompleteOpeningApiError)).toBe(CompleteOpeningApiError_ErrorCode.CASA_ALREADY_OPENED);
      expect(ledger.calls.filter((c) => c.ownerUserId === userId)).toHaveLength(1);

      // The password never reaches a log line, and neither does its hash.
      const [row] = await openingRows(userId);
      expect(logs.text()).not.toContain(row!.password_hash);
      expect(logs.text()).not.toMatch(/"password":"\d/);
    } finally {
      client.close();
    }
  });

  it.each([
    [{ customerId: '' }, OpeningUserStatus.WAIT_FOR_CIF, CompleteOpeningApiError_ErrorCode.CIF_NOT_FOUND],
    [{ kycStatus: KycStatus.ON_HOLD }, OpeningUserStatus.WAIT_FOR_KYC, CompleteOpeningApiError_ErrorCode.KYC_NOT_VERIFIED],
    [{ userStatus: UserStatus.BLOCKED }, OpeningUserStatus.NONE, CompleteOpeningApiError_ErrorCode.USER_STATUS_CONFLICT],
  ] as const)(
    'a user with %j is %s and CompleteOpening fails with code %s, creating nothing',
    async (over, expectedStatus, expectedCode) => {
      const { userId, client, call } = await signIn(readyUser(over));
      try {
        expect((await call(client.initiateOpening, {})).userStatus).toBe(expectedStatus);
        await call(client.agreeTerms, { agreements: MANDATORY });
        const err = await failure(call(client.completeOpening, { password: '3692' }));
        expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
        expect(apiErrorCode(err, CompleteOpeningApiError)).toBe(expectedCode);
        expect(ledger.calls.filter((c) => c.ownerUserId === userId)).toHaveLength(0);
        expect(await openingRows(userId)).toEqual([]);
      } finally {
        client.close();
      }
    },
  );

  it('terms: unknown ids and missing mandatory ones are refused; CompleteOpening requires them', async () => {
    const { userId, client, call } = await signIn();
    try {
      const early = await failure(call(client.completeOpening, { password: '3692' }));
      expect(early.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(apiErrorCode(early, CompleteOpeningApiError)).toBe(CompleteOpeningApiError_ErrorCode.MANDATORY_TERMS_NOT_AGREED);

      const unknown = await failure(call(client.agreeTerms, { agreements: [...MANDATORY, { termId: 42n, agreed: true }] }));
      expect(unknown.code).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(unknown, AgreeTermsApiError)).toBe(AgreeTermsApiError_ErrorCode.TERM_NOT_FOUND);

      const partial = await failure(
        call(client.agreeTerms, {
          agreements: [
            { termId: 1n, agreed: true },
            { termId: 4n, agreed: true },
          ],
        }),
      );
      expect(partial.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(apiErrorCode(partial, AgreeTermsApiError)).toBe(AgreeTermsApiError_ErrorCode.MANDATORY_TERMS_NOT_AGREED);

      const duplicate = await failure(call(client.agreeTerms, { agreements: [...MANDATORY, { termId: 1n, agreed: true }] }));
      expect(duplicate.code).toBe(grpc.status.INVALID_ARGUMENT);

      // Nothing of the refused calls was stored: still not agreed.
      const still = await failure(call(client.completeOpening, { password: '3692' }));
      expect(apiErrorCode(still, CompleteOpeningApiError)).toBe(CompleteOpeningApiError_ErrorCode.MANDATORY_TERMS_NOT_AGREED);
      expect(ledger.calls.filter((c) => c.ownerUserId === userId)).toHaveLength(0);
    } finally {
      client.close();
    }
  });

  it.each([
    ['', CompleteOpeningApiError_ErrorCode.INVALID_ACCOUNT_PASSWORD],
    ['36921', CompleteOpeningApiError_ErrorCode.INVALID_ACCOUNT_PASSWORD],
    ['０３６９', CompleteOpeningApiError_ErrorCode.INVALID_ACCOUNT_PASSWORD],
    ['0000', CompleteOpeningApiError_ErrorCode.WEAK_ACCOUNT_PASSWORD],
    ['9876', CompleteOpeningApiError_ErrorCode.WEAK_ACCOUNT_PASSWORD],
    ['5678', CompleteOpeningApiError_ErrorCode.WEAK_ACCOUNT_PASSWORD],
  ])('password %j: INVALID_ARGUMENT with code %s, nothing created', async (password, code) => {
    const { userId, client, call } = await signIn();
    try {
      await call(client.agreeTerms, { agreements: MANDATORY });
      const err = await failure(call(client.completeOpening, { password }));
      expect(err.code).toBe(grpc.status.INVALID_ARGUMENT);
      expect(apiErrorCode(err, CompleteOpeningApiError)).toBe(code);
      expect(await openingRows(userId)).toEqual([]);
    } finally {
      client.close();
    }
  });

  it('a lost ledger answer is DEADLINE_EXCEEDED / OUTCOME_UNKNOWN; the retry finishes; a parallel attempt is ABORTED', async () => {
    const { userId, client, call } = await signIn();
    try {
      await call(client.agreeTerms, { agreements: MANDATORY });
      ledger.setBehaviour('create-then-fail');
      const lost = await failure(call(client.completeOpening, { password: '3692' }));
      ledger.setBehaviour('ok');
      expect(lost.code).toBe(grpc.status.DEADLINE_EXCEEDED);
      expect(apiErrorCode(lost, CompleteOpeningApiError)).toBe(CompleteOpeningApiError_ErrorCode.OUTCOME_UNKNOWN);

      const release = ledger.hold();
      const retry = call(client.completeOpening, { password: '3692' });
      while (ledger.calls.filter((c) => c.ownerUserId === userId).length < 2) await new Promise((r) => setTimeout(r, 5));
      const parallel = await failure(call(client.completeOpening, { password: '3692' }));
      expect(parallel.code).toBe(grpc.status.ABORTED);
      expect(apiErrorCode(parallel, CompleteOpeningApiError)).toBe(CompleteOpeningApiError_ErrorCode.CASA_OPENING_IN_PROGRESS);
      release();
      expect((await retry).success).toBe(true);
      expect((await openingRows(userId))[0]?.state).toBe('OPENED');
    } finally {
      client.close();
    }
  });

  it('a session whose user the user service does not know: USER_NOT_FOUND', async () => {
    const { userId, client, call } = await signIn();
    users.users.delete(userId);
    try {
      const err = await failure(call(client.initiateOpening, {}));
      expect(err.code).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(err, InitiateOpeningApiError)).toBe(InitiateOpeningApiError_ErrorCode.USER_NOT_FOUND);
    } finally {
      client.close();
    }
  });

  it('without a session every method is UNAUTHENTICATED', async () => {
    const { client, call } = await signIn();
    try {
      const none = () => new grpc.Metadata();
      // Each call's rejection is handled as soon as it is made (awaiting them one by one left the
      // later ones unhandled for a moment, which vitest reports as an error).
      const refusals = await Promise.all([
        failure(call(client.initiateOpening, {}, none())),
        failure(call(client.listTerms, {}, none())),
        failure(call(client.agreeTerms, { agreements: MANDATORY }, none())),
        failure(call(client.completeOpening, { password: '3692' }, none())),
      ]);
      for (const refusal of refusals) expect(refusal.code).toBe(grpc.status.UNAUTHENTICATED);
    } finally {
      client.close();
    }
  });

  it("each user opens and reads only their own: one user's terms, status and account never stand for another's", async () => {
    const a = await signIn();
    const b = await signIn(readyUser({ kycStatus: KycStatus.PROCESSING }));
    try {
      await a.call(a.client.agreeTerms, { agreements: MANDATORY });
      const openedA = await a.call(a.client.completeOpening, { password: '3692' });

      // B sees B's own state, not A's.
      expect((await b.call(b.client.initiateOpening, {})).userStatus).toBe(OpeningUserStatus.WAIT_FOR_KYC);
      users.users.set(b.userId, readyUser());
      expect((await b.call(b.client.initiateOpening, {})).userStatus).toBe(OpeningUserStatus.OK);
      // A's agreements do not count for B; A's opening does not make B "already opened".
      const noTerms = await failure(b.call(b.client.completeOpening, { password: '3692' }));
      expect(apiErrorCode(noTerms, CompleteOpeningApiError)).toBe(CompleteOpeningApiError_ErrorCode.MANDATORY_TERMS_NOT_AGREED);
      await b.call(b.client.agreeTerms, { agreements: MANDATORY });
      const openedB = await b.call(b.client.completeOpening, { password: '3692' });
      expect(openedB.account?.accountNumber).not.toBe(openedA.account?.accountNumber);

      // Each ledger account was created for the session's user and no one else.
      expect(ledger.created.filter((c) => c.accountNumber === openedA.account?.accountNumber).map((c) => c.request.ownerUserId)).toEqual([
        a.userId,
      ]);
      expect(ledger.created.filter((c) => c.accountNumber === openedB.account?.accountNumber).map((c) => c.request.ownerUserId)).toEqual([
        b.userId,
      ]);
      expect((await openingRows(a.userId))[0]?.account_number).toBe(openedA.account?.accountNumber);
      expect((await openingRows(b.userId))[0]?.account_number).toBe(openedB.account?.accountNumber);
    } finally {
      a.client.close();
      b.client.close();
    }
  });
});
