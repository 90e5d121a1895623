import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from './tokens';
import { activatedUser, codeOf, doneLogin, newIdentity, openHarness, type Harness } from './testing/user.harness';

let h: Harness;

beforeAll(async () => {
  h = await openHarness();
});

afterAll(async () => {
  await h?.close();
});

describe('registerUser', () => {
  it('creates a CREATED user and returns a 256-bit token that is stored only as its hash', async () => {
    const identity = newIdentity();
    const { user, userToken } = await h.accounts.registerUser(identity);
    expect(user).toMatchObject({
      status: 'CREATED',
      userCi: identity.userCi,
      deviceId: identity.deviceId,
      kycStatus: 'NONE',
      customerId: null,
    });
    expect(userToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = await h.db.selectFrom('users').selectAll().where('id', '=', user.id.toString()).executeTakeFirstOrThrow();
    expect(row.user_token_hash).toBe(tokenHash(userToken));
    expect(JSON.stringify(row)).not.toContain(userToken);
    expect((await h.accounts.findByUserToken(userToken)).id).toBe(user.id);
  });

  it('refuses an identity that an ACTIVATED or BLOCKED user holds', async () => {
    const { user } = await activatedUser(h);
    expect(await codeOf(h.accounts.registerUser(newIdentity({ userCi: user.userCi })))).toBe('ALREADY_REGISTERED_USER');
    await h.accounts.updateUserStatus({
      userId: user.id,
      expectedStatus: 'ACTIVATED',
      newStatus: 'BLOCKED',
      reason: 'test',
      unlock: false,
    });
    expect(await codeOf(h.accounts.registerUser(newIdentity({ userCi: user.userCi })))).toBe('ALREADY_REGISTERED_USER');
  });

  it('replaces a CREATED or AGREED leftover of the same identity; the old token stops naming a live user', async () => {
    const first = await h.accounts.registerUser(newIdentity());
    await h.accounts.updateUserStatus({ userId: first.user.id, expectedStatus: 'CREATED', newStatus: 'AGREED', reason: '', unlock: false });
    const second = await h.accounts.registerUser(newIdentity({ userCi: first.user.userCi }));
    expect(second.user.id).not.toBe(first.user.id);
    expect((await h.accounts.findByUserToken(first.userToken)).status).toBe('DEACTIVATED');
    expect((await h.accounts.findByUserToken(second.userToken)).status).toBe('CREATED');
  });

  it('lets a DEACTIVATED user register again', async () => {
    const { user } = await activatedUser(h);
    await h.accounts.updateUserStatus({
      userId: user.id,
      expectedStatus: 'ACTIVATED',
      newStatus: 'DEACTIVATED',
      reason: 'left',
      unlock: false,
    });
    expect(await codeOf(h.accounts.registerUser(newIdentity({ userCi: user.userCi })))).toBe('ok');
  });

  it('leaves exactly one live user when the same identity registers concurrently', async () => {
    const ci = newIdentity().userCi;
    const results = await Promise.allSettled(Array.from({ length: 6 }, () => h.accounts.registerUser(newIdentity({ userCi: ci }))));
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    const live = await h.db.selectFrom('users').select('status').where('user_ci', '=', ci).where('status', '!=', 'DEACTIVATED').execute();
    expect(live).toHaveLength(1);
  });

  it('requires the CI and the device uuid', async () => {
    expect(await codeOf(h.accounts.registerUser({ ...newIdentity(), userCi: '' }))).toMatch(/^InvalidArgumentError/);
    expect(await codeOf(h.accounts.registerUser({ ...newIdentity(), deviceUuid: ' ' }))).toMatch(/^InvalidArgumentError/);
  });
});

describe('findByUserToken / findByUserId / findByCustomerId', () => {
  it('answer USER_NOT_FOUND for unknown keys', async () => {
    expect(await codeOf(h.accounts.findByUserToken(''))).toBe('USER_NOT_FOUND');
    expect(await codeOf(h.accounts.findByUserToken('x'.repeat(43)))).toBe('USER_NOT_FOUND');
    expect(await codeOf(h.accounts.findByUserId(987_654_321n))).toBe('USER_NOT_FOUND');
    expect(await codeOf(h.accounts.findByCustomerId('C000000000000'))).toBe('USER_NOT_FOUND');
    expect(await codeOf(h.accounts.findByCustomerId("C' or 1=1 --"))).toBe('USER_NOT_FOUND');
  });
});

describe('updateUserStatus', () => {
  it('is a compare-and-set: a wrong expected status or a forbidden transition is USER_STATUS_CONFLICT', async () => {
    const { user } = await h.accounts.registerUser(newIdentity());
    const change = (expected: 'CREATED' | 'AGREED' | 'ACTIVATED' | 'BLOCKED', next: 'AGREED' | 'ACTIVATED' | 'BLOCKED', unlock = false) =>
      codeOf(h.accounts.updateUserStatus({ userId: user.id, expectedStatus: expected, newStatus: next, reason: '', unlock }));
    expect(await change('AGREED', 'ACTIVATED')).toBe('USER_STATUS_CONFLICT'); // it is CREATED
    expect(await change('CREATED', 'ACTIVATED')).toBe('USER_STATUS_CONFLICT'); // skips AGREED
    expect(await change('CREATED', 'AGREED')).toBe('ok');
    expect(await change('AGREED', 'ACTIVATED')).toBe('ok');
    expect(await change('ACTIVATED', 'BLOCKED')).toBe('ok');
    expect(await change('BLOCKED', 'ACTIVATED')).toBe('USER_STATUS_CONFLICT'); // no unlock
    expect(await change('BLOCKED', 'ACTIVATED', true)).toBe('ok');
    expect(
      await codeOf(
        h.accounts.updateUserStatus({ userId: 555_555n, expectedStatus: 'CREATED', newStatus: 'AGREED', reason: '', unlock: false }),
      ),
    ).toBe('USER_NOT_FOUND');
  });

  it('of two concurrent changes from the same expected status, exactly one wins', async () => {
    const { user } = await activatedUser(h);
    const results = await Promise.all([
      codeOf(
        h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: 'a', unlock: false }),
      ),
      codeOf(
        h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'ACTIVATED', newStatus: 'DEACTIVATED', reason: 'b', unlock: false }),
      ),
    ]);
    expect(results.sort()).toEqual(['USER_STATUS_CONFLICT', 'ok']);
  });

  it('BLOCKED revokes every session of the user and the bound device; a failed device call is retried with BLOCKED → BLOCKED', async () => {
    const { user } = await activatedUser(h);
    const issued = await h.sessions.createSession({ userId: user.id, deviceId: user.deviceId!, processId: await doneLogin(h, user.id) });
    expect(await codeOf(h.sessions.findBySessionToken(issued.sessionToken))).toBe('ok');

    h.deviceServiceDown.value = true;
    try {
      expect(
        await codeOf(
          h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: 'pin', unlock: false }),
        ),
      ).toMatch(/^UpstreamUnavailableError/);
    } finally {
      h.deviceServiceDown.value = false;
    }
    // The block itself happened: the status and the sessions.
    expect((await h.accounts.findByUserId(user.id)).status).toBe('BLOCKED');
    expect(await codeOf(h.sessions.findBySessionToken(issued.sessionToken))).toBe('LOGIN_SESSION_EXPIRED');
    expect(await codeOf(h.sessions.rotateSession({ refreshToken: issued.refreshToken, deviceId: user.deviceId! }))).toBe(
      'INVALID_LOGIN_SESSION',
    );
    expect(h.revokedDevices.filter((r) => r.deviceId === user.deviceId)).toEqual([]);

    await h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'BLOCKED', newStatus: 'BLOCKED', reason: 'pin', unlock: false });
    expect(h.revokedDevices.filter((r) => r.deviceId === user.deviceId)).toEqual([{ deviceId: user.deviceId, reason: 'USER_BLOCKED' }]);
  });
});

describe('updateCustomerInfo', () => {
  it('records the resident id and gives a stable customer id', async () => {
    const { user } = await h.accounts.registerUser(newIdentity({ userName: 'Hong Gildong' }));
    const first = await h.accounts.updateCustomerInfo({ userId: user.id, residentId: '900115-1234567', name: user.userName });
    expect(first.customerId).toMatch(/^C\d{12}$/);
    // The name compares without regard to surrounding white space or letter case.
    const again = await h.accounts.updateCustomerInfo({ userId: user.id, residentId: '900115-1234567', name: ' HONG   gildong ' });
    expect(again.customerId).toBe(first.customerId);
    expect((await h.accounts.findByCustomerId(first.customerId!)).id).toBe(user.id);
  });

  it('refuses a malformed or implausible resident id, another name, or a different resident id later', async () => {
    const { user } = await activatedUser(h);
    const update = (residentId: string, name = user.userName) =>
      codeOf(h.accounts.updateCustomerInfo({ userId: user.id, residentId, name }));
    expect(await update('9001151234567')).toBe('USER_VERIFICATION_FAILED');
    expect(await update('901315-1234567')).toBe('USER_VERIFICATION_FAILED');
    expect(await update('900115-1234567', '김철수')).toBe('USER_VERIFICATION_FAILED');
    expect(await update('900115-1234567', '홍길')).toBe('USER_VERIFICATION_FAILED');
    expect(await update('900115-1234567')).toBe('ok');
    expect(await update('850505-1234567')).toBe('USER_VERIFICATION_FAILED');
    expect(await codeOf(h.accounts.updateCustomerInfo({ userId: 444_444n, residentId: '900115-1234567', name: 'x' }))).toBe(
      'USER_NOT_FOUND',
    );
  });

  it('never logs the resident id', async () => {
    const { user } = await activatedUser(h);
    await h.accounts.updateCustomerInfo({ userId: user.id, residentId: '771231-2345678', name: user.userName });
    expect(h.logs.text()).not.toContain('771231-2345678');
  });
});

describe('updateKyc and bindDevice', () => {
  it('sets the KYC status and reason; VERIFIED records when', async () => {
    const { user } = await activatedUser(h);
    expect(await h.accounts.updateKyc({ userId: user.id, kycStatus: 'PROCESSING', reason: '' })).toMatchObject({
      kycStatus: 'PROCESSING',
      validatedAt: null,
    });
    const verified = await h.accounts.updateKyc({ userId: user.id, kycStatus: 'VERIFIED', reason: 'documents ok' });
    expect(verified).toMatchObject({ kycStatus: 'VERIFIED', reason: 'documents ok', validatedAt: h.clock.now() });
    expect(await codeOf(h.accounts.updateKyc({ userId: 333_333n, kycStatus: 'VERIFIED', reason: '' }))).toBe('USER_NOT_FOUND');
  });

  it('moves the user to a new device and ends the sessions of the previous one', async () => {
    const { user } = await activatedUser(h);
    const oldDevice = user.deviceId!;
    const issued = await h.sessions.createSession({ userId: user.id, deviceId: oldDevice, processId: await doneLogin(h, user.id) });
    const newDevice = oldDevice + 100_000n;
    expect(await h.accounts.bindDevice({ userId: user.id, deviceId: newDevice })).toEqual({ previousDeviceId: oldDevice });
    expect(await codeOf(h.sessions.findBySessionToken(issued.sessionToken))).toBe('LOGIN_SESSION_EXPIRED');
    expect(await codeOf(h.sessions.rotateSession({ refreshToken: issued.refreshToken, deviceId: oldDevice }))).toBe(
      'INVALID_LOGIN_SESSION',
    );
    expect((await h.accounts.findByUserId(user.id)).deviceId).toBe(newDevice);
    // Binding the same device again changes nothing.
    expect(await h.accounts.bindDevice({ userId: user.id, deviceId: newDevice })).toEqual({ previousDeviceId: newDevice });
    expect(await codeOf(h.accounts.bindDevice({ userId: 222_222n, deviceId: 1n }))).toBe('USER_NOT_FOUND');
  });

  it('stores the new DeviceUUID with the device; an empty one keeps the registered UUID', async () => {
    const { user } = await activatedUser(h);
    expect(user.deviceUuid).toMatch(/^uuid-/);
    const phoneB = user.deviceId! + 200_000n;
    await h.accounts.bindDevice({ userId: user.id, deviceId: phoneB, deviceUuid: 'uuid-b' });
    expect(await h.accounts.findByUserId(user.id)).toMatchObject({ deviceId: phoneB, deviceUuid: 'uuid-b' });
    const row = await h.db
      .selectFrom('users')
      .select(['device_id', 'device_uuid'])
      .where('id', '=', user.id.toString())
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ device_id: phoneB.toString(), device_uuid: 'uuid-b' });
    // An app reinstall (new device id, no UUID given) keeps it.
    await h.accounts.bindDevice({ userId: user.id, deviceId: phoneB + 1n, deviceUuid: '' });
    expect(await h.accounts.findByUserId(user.id)).toMatchObject({ deviceId: phoneB + 1n, deviceUuid: 'uuid-b' });
    // The same device again with another UUID: the UUID follows, no session of this device ends.
    const issued = await h.sessions.createSession({ userId: user.id, deviceId: phoneB + 1n, processId: await doneLogin(h, user.id) });
    await h.accounts.bindDevice({ userId: user.id, deviceId: phoneB + 1n, deviceUuid: 'uuid-c' });
    expect((await h.accounts.findByUserId(user.id)).deviceUuid).toBe('uuid-c');
    expect(await codeOf(h.sessions.findBySessionToken(issued.sessionToken))).toBe('ok');
    expect(await codeOf(h.accounts.bindDevice({ userId: user.id, deviceId: phoneB, deviceUuid: 'u'.repeat(257) }))).toMatch(
      /^InvalidArgumentError/,
    );
  });
});
