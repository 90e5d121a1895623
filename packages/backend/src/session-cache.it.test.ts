// The mobile guard remembers resolved sessions and device revocation states for a short while
// (docs/performance.md, reads). What must hold whatever it remembers: a session or a device that
// ends is refused within a second — at once when the end is announced (revocation facts), and
// within the cache's bound when the announcement is lost. Real user, device, auth and account
// services on Postgres and Redis, over TLS with device certificates, as the phone calls them.
import { X509Certificate } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary, withSession } from '@kfrm/app-client';
import { markDeviceRevoked } from '@kfrm/device-trust';
import { AccountServiceClient } from '@kfrm/proto/gen/kfrm/api/account/account';
import { CreateAccountRequest, LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { SessionManagementServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/credential';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { accountModule } from '@kfrm/service-account';
import { userModule } from '@kfrm/service-user';
import { startIdentityHarness, type IdentityHarness } from './testing/identity.harness';

/** The staleness the guard may allow when a revocation is not announced. */
const BOUND_MS = 1_000;

describe('cached session and device state on the mobile listener', () => {
  let h: IdentityHarness;
  let casaLedger: LedgerServiceClient;
  let seq = 0;

  beforeAll(async () => {
    h = await startIdentityHarness(userModule, {}, [accountModule]);
    // Accounts are created by casa: its identity on the internal listener.
    casaLedger = new LedgerServiceClient(`127.0.0.1:${h.running.internalPort}`, h.identity.as('casa'));
  }, 60_000);

  afterAll(async () => {
    casaLedger?.close();
    await h?.close();
  });

  /** A signed-in customer with an account, who has just read it (so whatever the guard caches is cached). */
  async function reader() {
    const phone = await h.newPhone();
    const user = await h.register(phone);
    const { sessionToken } = await h.loginWithPin(phone, user.userToken);
    const created = await unary(
      casaLedger,
      casaLedger.createAccount,
      CreateAccountRequest.fromPartial({
        ownerUserId: user.userId.toString(),
        accountName: 'main',
        currency: CurrencyCode.KRW,
        accountColor: '#3366FF',
        idempotencyKey: `acct-${user.userId}-${++seq}`,
      }),
    );
    const accountNumber = created.account!.accountNumber;
    const accounts = phone.client(AccountServiceClient);
    const read = () => unary(accounts, accounts.getAccount, { accountNumber }, withSession(sessionToken));
    for (let i = 0; i < 3; i++) expect((await read()).accountNumber).toBe(accountNumber);
    return { phone, user, sessionToken, read };
  }

  /** Reads until refused; the refusal must be UNAUTHENTICATED, and no read started `boundMs` after `since` may be answered. */
  async function refusedWithin(read: () => Promise<unknown>, since: number, boundMs: number): Promise<void> {
    for (;;) {
      const started = performance.now();
      const outcome = await read().then(
        () => undefined,
        (err: grpc.ServiceError) => err,
      );
      if (outcome) {
        expect(outcome.code).toBe(grpc.status.UNAUTHENTICATED);
        return;
      }
      expect(started - since, 'a read started after the bound was answered').toBeLessThan(boundMs);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async function refusedNow(read: () => Promise<unknown>): Promise<void> {
    await expect(read()).rejects.toMatchObject({ code: grpc.status.UNAUTHENTICATED });
  }

  it('after Logout the very next read is refused (the revocation is announced)', async () => {
    const { phone, sessionToken, read } = await reader();
    const s = phone.client(SessionManagementServiceClient);
    await unary(s, s.logout, {}, withSession(sessionToken));
    await refusedNow(read);
  });

  it('a session ended in the database without any announcement is refused within the bound', async () => {
    const { user, read } = await reader();
    const since = performance.now();
    await sql`update users.sessions set revoked_at = now(), revoke_reason = 'test: no announcement' where user_id = ${user.userId.toString()}`.execute(
      h.running.db.kysely(),
    );
    await refusedWithin(read, since, BOUND_MS);
  });

  it('a device revoked in the store without any announcement is refused within the bound', async () => {
    const { phone, read } = await reader();
    const certificate = new X509Certificate(phone.device!.certificatePem);
    const since = performance.now();
    await markDeviceRevoked(h.store, certificate.serialNumber, new Date(certificate.validTo));
    await refusedWithin(read, since, BOUND_MS);
  });

  it('a session still live keeps being served (the cache does not end sessions)', async () => {
    const { read } = await reader();
    const until = performance.now() + BOUND_MS * 1.5;
    while (performance.now() < until) await read();
  });

  it("another user's logout leaves this user's reads alone", async () => {
    const a = await reader();
    const b = await reader();
    const s = a.phone.client(SessionManagementServiceClient);
    await unary(s, s.logout, {}, withSession(a.sessionToken));
    await refusedNow(a.read);
    await b.read();
  });
});
