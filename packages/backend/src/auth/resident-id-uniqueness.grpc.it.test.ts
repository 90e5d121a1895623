// One member per resident registration number, as the phone meets it: SubmitCustomerInfo with a
// resident id another member already holds answers ALREADY_REGISTERED_USER (ALREADY_EXISTS) and
// writes nothing; an abandoned sign-up does not hold its resident id against a new one. Over gRPC
// with the real device, E2E key, auth and user services on PostgreSQL and Redis.
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '@kfrm/app-client';
import { SubmitCustomerInfoApiError, SubmitCustomerInfoApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { apiErrorCode } from '@kfrm/server-kit';
import { userModule } from '@kfrm/service-user';
import { refusal, reg, startIdentityHarness, type IdentityHarness } from '../testing/identity.harness';

describe('one member per resident registration number', () => {
  let h: IdentityHarness;

  beforeAll(async () => {
    h = await startIdentityHarness(userModule);
  }, 60_000);

  afterAll(async () => {
    await h?.close();
  });

  const users = () => h.running.db.kysely('users').selectFrom('users');

  it('refuses a second sign-up with a member’s resident id, writing nothing, and lets it go on with its own', async () => {
    const residentId = h.nextResidentId();
    const member = await h.register(await h.newPhone(), { residentId });
    expect(member.customerId).toMatch(/^C\d{12}$/);

    const phone = await h.newPhone();
    const r = reg(phone);
    const second = await h.createUser(phone);
    const err = await refusal(unary(r, r.submitCustomerInfo, { residentId, name: second.name }));
    expect([err.code, apiErrorCode(err, SubmitCustomerInfoApiError)]).toEqual([
      grpc.status.ALREADY_EXISTS,
      SubmitCustomerInfoApiError_ErrorCode.ALREADY_REGISTERED_USER,
    ]);
    // Nothing half-written: no customer id, no resident id on the second registration.
    const row = await users()
      .select(['customer_id', 'resident_id_sealed'])
      .where('id', '=', String(second.userId))
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ customer_id: null, resident_id_sealed: null });
    // Its own resident id goes through.
    const own = await unary(r, r.submitCustomerInfo, { residentId: h.nextResidentId(), name: second.name });
    expect(own.customerId).toMatch(/^C\d{12}$/);
  });

  it('lets a new sign-up take a resident id that only an abandoned sign-up recorded', async () => {
    const residentId = h.nextResidentId();
    const firstPhone = await h.newPhone();
    const abandoned = await h.createUser(firstPhone);
    const r1 = reg(firstPhone);
    await unary(r1, r1.submitCustomerInfo, { residentId, name: abandoned.name });
    // The person starts again on another phone and finishes.
    const member = await h.register(await h.newPhone(), { residentId });
    expect(member.customerId).toMatch(/^C\d{12}$/);
    // Now a member holds it: a third sign-up is refused.
    const thirdPhone = await h.newPhone();
    const third = await h.createUser(thirdPhone);
    const r3 = reg(thirdPhone);
    const err = await refusal(unary(r3, r3.submitCustomerInfo, { residentId, name: third.name }));
    expect(apiErrorCode(err, SubmitCustomerInfoApiError)).toBe(SubmitCustomerInfoApiError_ErrorCode.ALREADY_REGISTERED_USER);
  });
});
