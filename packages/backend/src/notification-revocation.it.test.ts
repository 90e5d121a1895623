// Revoked sessions lose their notification streams (issue 14): as the phone sees it, over TLS with
// device certificates, the real user, device, auth, account and notification services on
// Postgres and Redis. The periodic session re-check is set to an hour here, so a stream that ends
// within the test ended because the revocation was announced, not because a timer came round.
import { operatorTokenInterceptor } from '@kfrm/runtime';
import { operatorToken } from '@kfrm/runtime/testing/operator-tokens.fixtures';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AppClient, unary } from '@kfrm/app-client';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import {
  CreateAccountRequest,
  LedgerServiceClient,
  OutboxEventKind,
  OutboxEventType,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { DeviceChangeServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { NotificationServiceClient, type NotificationEventResponse } from '@kfrm/proto/gen/kfrm/api/notification/notification';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { apiErrorCode } from '@kfrm/server-kit';
import { accountModule } from '@kfrm/service-account';
import { createNotificationModule, LAST_EVENT_ID_HEADER } from '@kfrm/service-notification';
import { userModule } from '@kfrm/service-user';
import { AUTH, authn, loginSvc, PIN, startIdentityHarness, type IdentityHarness } from './testing/identity.harness';

const krw = (won: number) => ({ currencyCode: CurrencyCode.KRW, majorAmount: BigInt(won), minorAmount: 0n });

async function until(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

interface Stream {
  events: NotificationEventResponse[];
  status: Promise<grpc.StatusObject>;
  ended: boolean;
  call: grpc.ClientReadableStream<NotificationEventResponse>;
}

function subscribe(app: AppClient, sessionToken: string, lastEventId?: string): Stream {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${sessionToken}`);
  if (lastEventId !== undefined) md.set(LAST_EVENT_ID_HEADER, lastEventId);
  const call = app.client(NotificationServiceClient).subscribeNotification({}, md);
  const stream: Stream = { events: [], status: new Promise((resolve) => call.on('status', resolve)), ended: false, call };
  call.on('data', (e: NotificationEventResponse) => stream.events.push(e));
  call.on('error', () => undefined);
  void stream.status.then(() => (stream.ended = true));
  return stream;
}

describe('notification streams of revoked sessions', () => {
  let h: IdentityHarness;
  let ledger: LedgerServiceClient;
  // Accounts are created by casa and transfers posted by the transfer service: their identities.
  let casaLedger: LedgerServiceClient;
  let transferLedger: LedgerServiceClient;
  let accounts: UserAccountServiceClient;
  let seq = 0;

  beforeAll(async () => {
    const notification = createNotificationModule({
      env: {
        // One stream per user: a stream left open by a revoked session would hold the only slot.
        KFRM_NOTIFICATION_STREAMS_PER_USER: '1',
        KFRM_NOTIFICATION_RECHECK_SECONDS: '3600',
        KFRM_NOTIFICATION_POLL_MS: '50',
      },
    });
    h = await startIdentityHarness(userModule, { settings: { secretChecksPerDeviceWindow: 1_000 } }, [accountModule, notification]);
    const internal = `127.0.0.1:${h.running.internalPort}`;
    // The operator's side: a teller funds, support blocks (tokens of the local issuer).
    const issuerDir = h.running.config.operatorIssuerDir;
    casaLedger = new LedgerServiceClient(internal, h.identity.as('casa'));
    transferLedger = new LedgerServiceClient(internal, h.identity.as('transfer'));
    ledger = new LedgerServiceClient(internal, h.identity.anonymous(), {
      interceptors: [operatorTokenInterceptor(await operatorToken(issuerDir, ['teller'], 'test-teller'))],
    });
    accounts = new UserAccountServiceClient(internal, h.identity.anonymous(), {
      interceptors: [operatorTokenInterceptor(await operatorToken(issuerDir, ['support'], 'test-support'))],
    });
  }, 60_000);

  afterAll(async () => {
    ledger?.close();
    casaLedger?.close();
    transferLedger?.close();
    accounts?.close();
    await h?.close();
  });

  /** Two funded accounts of the user: each transfer between them is one "이체 완료" and one "입금" event for the user. */
  async function fundedAccounts(userId: bigint) {
    const owner = userId.toString();
    const [from, to] = await Promise.all(
      ['from', 'to'].map((name) =>
        unary(
          casaLedger,
          casaLedger.createAccount,
          CreateAccountRequest.fromPartial({
            ownerUserId: owner,
            accountName: name,
            currency: CurrencyCode.KRW,
            accountColor: '#3366FF',
            idempotencyKey: `acct-${owner}-${name}`,
          }),
        ),
      ),
    );
    await unary(ledger, ledger.deposit, {
      idempotencyKey: `fund-${owner}-${++seq}`,
      accountNumber: from!.account!.accountNumber,
      // Under the operators' approval threshold: no second operator needed.
      amount: krw(100_000),
      memo: '',
      events: [],
    });
    return async () => {
      await unary(transferLedger, transferLedger.postTransfer, {
        idempotencyKey: `t-${owner}-${++seq}`,
        fromAccountNumber: from!.account!.accountNumber,
        toAccountNumber: to!.account!.accountNumber,
        amount: krw(1_000),
        debitMemo: '',
        creditMemo: '',
        events: [
          {
            userId: owner,
            type: OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED,
            kind: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_OUT,
            counterpartyName: '김*수',
            title: '',
            content: '',
          },
          {
            userId: owner,
            type: OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED,
            kind: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_IN,
            counterpartyName: '',
            title: '',
            content: '',
          },
        ],
        sourceOwnerUserId: owner,
        toExternalSettlement: false,
        withdrawal: false,
      });
    };
  }

  /**
   * Transfers until the stream has events: proves it is live (subscribed) before the revocation.
   * A stream is subscribed some time after the call is sent (its access check first), and events
   * committed before that are not live for it: on the embedded database, whose one connection
   * serialises the access check behind everything else, the first transfer's often are not.
   */
  async function liveWith(stream: Stream, transfer: () => Promise<void>) {
    for (let attempt = 0; attempt < 20 && stream.events.length < 2 && !stream.ended; attempt++) {
      await transfer();
      await until(() => stream.events.length >= 2 || stream.ended, 'the first events on the stream', 1_000).catch(() => undefined);
    }
    expect(stream.ended).toBe(false);
    expect(stream.events.length, 'events on the stream').toBeGreaterThanOrEqual(2);
  }

  async function expectUnauthenticated(stream: Stream) {
    const status = await Promise.race([
      stream.status,
      new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 10_000).unref()),
    ]);
    expect(status, 'the stream to end').toBeDefined();
    expect(status!.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(apiErrorCode(status, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
  }

  it('after ChangeDevice the old phone gets no further event, its stream ends UNAUTHENTICATED, and the new phone subscribes', async () => {
    const oldPhone = await h.newPhone();
    const user = await h.register(oldPhone);
    const session = await h.loginWithPin(oldPhone, user.userToken);
    const transfer = await fundedAccounts(user.userId);
    const old = subscribe(oldPhone, session.sessionToken);
    await liveWith(old, transfer);

    const newPhone = await h.newPhone();
    const dc = newPhone.client(DeviceChangeServiceClient);
    const { process } = await unary(dc, dc.prepareDeviceChange, { userToken: user.userToken, deviceUuid: { id: `uuid-new-${++seq}` } });
    const a = authn(newPhone);
    await unary(a, a.authenticatePinForLogin, {
      userToken: user.userToken,
      processId: process!.processId,
      pin: await newPhone.encrypt(AUTH, PIN),
    });
    await unary(dc, dc.changeDevice, { userToken: user.userToken, processId: process!.processId });
    // The next transfer after the change must not reach the old phone.
    const seenBefore = old.events.length;
    await transfer();
    await expectUnauthenticated(old);
    expect(old.events).toHaveLength(seenBefore);

    // The slot is free: the new phone's stream (the only one allowed) is accepted and resumes.
    const fresh = await h.loginWithPin(newPhone, user.userToken);
    const next = subscribe(newPhone, fresh.sessionToken, old.events.at(-1)!.id);
    await until(() => next.events.length >= 2 || next.ended, "the new phone's replay");
    expect(next.ended).toBe(false);
    expect(next.events.map((e) => e.title)).toEqual(['이체 완료', '입금']);
    next.call.cancel();
  });

  it('ends a stream whose session is revoked by refresh-token reuse', async () => {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const first = await h.loginWithPin(phone, user.userToken);
    const l = loginSvc(phone);
    const rotated = await unary(l, l.refreshSession, { refreshToken: first.refreshToken });
    const transfer = await fundedAccounts(user.userId);
    const stream = subscribe(phone, rotated.sessionToken);
    await liveWith(stream, transfer);
    const seenBefore = stream.events.length;

    // The spent refresh token again (a copy in someone else's hands): the whole family is revoked.
    await expect(unary(l, l.refreshSession, { refreshToken: first.refreshToken })).rejects.toMatchObject({
      code: grpc.status.UNAUTHENTICATED,
    });
    await transfer();
    await expectUnauthenticated(stream);
    expect(stream.events).toHaveLength(seenBefore);
  });

  it("ends a BLOCKED user's streams", async () => {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const session = await h.loginWithPin(phone, user.userToken);
    const transfer = await fundedAccounts(user.userId);
    const stream = subscribe(phone, session.sessionToken);
    await liveWith(stream, transfer);
    const seenBefore = stream.events.length;

    await unary(accounts, accounts.updateUserStatus, {
      userId: user.userId,
      expectedStatus: UserStatus.ACTIVATED,
      newStatus: UserStatus.BLOCKED,
      reason: 'operator: suspected fraud',
      unlock: false,
    });
    await transfer();
    await expectUnauthenticated(stream);
    expect(stream.events).toHaveLength(seenBefore);
  });
});
