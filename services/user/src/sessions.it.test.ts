import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_TTLS } from './deps';
import { purgeExpiredRows, PURGE_GRACE_MS } from './housekeeping';
import { tokenHash } from './tokens';
import { createSessions } from './sessions';
import { activatedUser, codeOf, countingDeps, doneLogin, openHarness, type Harness } from './testing/user.harness';

let h: Harness;

beforeAll(async () => {
  h = await openHarness();
});

afterAll(async () => {
  await h?.close();
});

async function loggedIn() {
  const { user } = await activatedUser(h);
  const deviceId = user.deviceId!;
  const issued = await h.sessions.createSession({ userId: user.id, deviceId, processId: await doneLogin(h, user.id) });
  return { user, deviceId, issued };
}

describe('createSession', () => {
  it('issues random tokens bound to the device, stored only as hashes, with the configured lifetimes', async () => {
    const { user, deviceId, issued } = await loggedIn();
    expect(issued.sessionToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(issued.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(issued.sessionExpiresAt.getTime() - h.clock.now().getTime()).toBe(DEFAULT_TTLS.sessionTtlMs);
    expect(issued.refreshExpiresAt.getTime() - h.clock.now().getTime()).toBe(DEFAULT_TTLS.refreshFamilyTtlMs);
    const rows = await h.db.selectFrom('sessions').selectAll().where('user_id', '=', user.id.toString()).execute();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      device_id: deviceId.toString(),
      session_token_hash: tokenHash(issued.sessionToken),
      refresh_token_hash: tokenHash(issued.refreshToken),
    });
    expect(JSON.stringify(rows)).not.toContain(issued.sessionToken);

    const found = await h.sessions.findBySessionToken(issued.sessionToken);
    expect(found.user.id).toBe(user.id);
    expect(found.session.deviceId).toBe(deviceId);
    expect(h.logs.text()).not.toContain(issued.sessionToken);
    expect(h.logs.text()).not.toContain(issued.refreshToken);
  });

  it('consumes the process: one process yields one session, also when calls race', async () => {
    const { user } = await activatedUser(h);
    const processId = await doneLogin(h, user.id);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => codeOf(h.sessions.createSession({ userId: user.id, deviceId: user.deviceId!, processId }))),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'AUTHENTICATION_FAILED')).toHaveLength(4);
    const rows = await h.db.selectFrom('sessions').select('id').where('user_id', '=', user.id.toString()).execute();
    expect(rows).toHaveLength(1);
  });

  it('refuses processes that are not a DONE LOGIN of this user on this device', async () => {
    const { user } = await activatedUser(h);
    const other = await activatedUser(h);
    const deviceId = user.deviceId!;
    const create = (processId: string, overrides: { userId?: bigint; deviceId?: bigint } = {}) =>
      codeOf(h.sessions.createSession({ userId: overrides.userId ?? user.id, deviceId: overrides.deviceId ?? deviceId, processId }));

    const ready = await h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
    expect(await create(ready.id)).toBe('AUTHENTICATION_FAILED');

    const change = await h.processes.createProcess({ userId: user.id, transactionType: 'CHANGE_DEVICE', transactionContext: '' });
    await h.processes.completeAuthentication({ processId: change.id, userId: user.id, type: 'PIN' });
    expect(await create(change.id)).toBe('AUTHENTICATION_FAILED');

    const done = await doneLogin(h, user.id);
    expect(await create(done, { userId: other.user.id, deviceId: other.user.deviceId! })).toBe('AUTHENTICATION_PROCESS_NOT_FOUND');
    expect(await create(done, { deviceId: deviceId + 1n })).toBe('AUTHENTICATION_FAILED');
    // A refusal does not use the process up.
    expect(await create(done)).toBe('ok');
    expect(await create('no-such-process')).toBe('AUTHENTICATION_PROCESS_NOT_FOUND');

    const late = await doneLogin(h, user.id);
    h.clock.advance(DEFAULT_TTLS.processTtlMs);
    expect(await create(late)).toBe('AUTHENTICATION_PROCESS_NOT_FOUND');
  });

  it('refuses a user who is not ACTIVATED', async () => {
    const { user } = await activatedUser(h);
    const processId = await doneLogin(h, user.id);
    await h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: '', unlock: false });
    expect(await codeOf(h.sessions.createSession({ userId: user.id, deviceId: user.deviceId!, processId }))).toBe('AUTHENTICATION_FAILED');
  });
});

describe('createSession by user token', () => {
  it('finds the user in the session transaction itself, and answers who it is', async () => {
    const { user, userToken } = await activatedUser(h);
    const processId = await doneLogin(h, user.id);
    const counting = countingDeps(h.deps);
    const issued = await createSessions(counting.deps).createSession({ userToken, deviceId: user.deviceId!, processId });
    expect(issued).toMatchObject({ userId: user.id, userName: user.userName });
    // One statement (issue 17): the user (locked), the process consumed, the session.
    expect(counting.statements).toEqual(['RawNode']);
    expect((await h.sessions.findBySessionToken(issued.sessionToken)).user.id).toBe(user.id);
  });

  it('one process yields one session when logins race; a block racing them leaves no live session behind', async () => {
    const { user, userToken } = await activatedUser(h);
    const processId = await doneLogin(h, user.id);
    const results = await Promise.all(
      Array.from({ length: 5 }, () => codeOf(h.sessions.createSession({ userToken, deviceId: user.deviceId!, processId }))),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'AUTHENTICATION_FAILED')).toHaveLength(4);
    const sessionsOf = async (userId: bigint) =>
      h.db.selectFrom('sessions').select(['id', 'revoked_at']).where('user_id', '=', userId.toString()).execute();
    expect(await sessionsOf(user.id)).toHaveLength(1);

    // The user row is locked by the login statement: a block either comes first (no session) or
    // after (and revokes the session it finds).
    for (let round = 0; round < 5; round++) {
      const { user: racer, userToken: token } = await activatedUser(h);
      const login = await doneLogin(h, racer.id);
      const [created] = await Promise.all([
        codeOf(h.sessions.createSession({ userToken: token, deviceId: racer.deviceId!, processId: login })),
        h.accounts.updateUserStatus({ userId: racer.id, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: '', unlock: false }),
      ]);
      expect(['ok', 'AUTHENTICATION_FAILED']).toContain(created);
      expect((await sessionsOf(racer.id)).filter((row) => row.revoked_at === null)).toEqual([]);
    }
  });

  it('an unknown token, another device or a user who is not ACTIVATED: AUTHENTICATION_FAILED, the process kept', async () => {
    const { user, userToken } = await activatedUser(h);
    const other = await activatedUser(h);
    const processId = await doneLogin(h, user.id);
    const create = (overrides: { userToken?: string; deviceId?: bigint; processId?: string } = {}) =>
      codeOf(h.sessions.createSession({ userToken, deviceId: user.deviceId!, processId, ...overrides }));
    expect(await create({ userToken: 'A'.repeat(43) })).toBe('AUTHENTICATION_FAILED');
    expect(await create({ userToken: '' })).toBe('AUTHENTICATION_FAILED');
    expect(await create({ deviceId: user.deviceId! + 1n })).toBe('AUTHENTICATION_FAILED');
    // Another user's token (and device) with this user's process: not theirs.
    expect(await create({ userToken: other.userToken, deviceId: other.user.deviceId! })).toBe('AUTHENTICATION_PROCESS_NOT_FOUND');
    expect(await create({ processId: 'no-such-process' })).toBe('AUTHENTICATION_PROCESS_NOT_FOUND');
    await h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: '', unlock: false });
    expect(await create()).toBe('AUTHENTICATION_FAILED');
    await h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'BLOCKED', newStatus: 'ACTIVATED', reason: '', unlock: true });
    expect(await create()).toBe('ok');
    expect(await create()).toBe('AUTHENTICATION_FAILED');
  });
});

describe('findBySessionToken', () => {
  it('SESSION_TOKEN_REQUIRED for empty; LOGIN_SESSION_EXPIRED for unknown, expired and revoked alike', async () => {
    expect(await codeOf(h.sessions.findBySessionToken(''))).toBe('SESSION_TOKEN_REQUIRED');
    expect(await codeOf(h.sessions.findBySessionToken('A'.repeat(43)))).toBe('LOGIN_SESSION_EXPIRED');

    const expiring = await loggedIn();
    h.clock.advance(DEFAULT_TTLS.sessionTtlMs);
    expect(await codeOf(h.sessions.findBySessionToken(expiring.issued.sessionToken))).toBe('LOGIN_SESSION_EXPIRED');

    const revoked = await loggedIn();
    expect(await h.sessions.revokeSessions({ userId: revoked.user.id, deviceId: 0n, reason: 'logout' })).toBe(1);
    expect(await codeOf(h.sessions.findBySessionToken(revoked.issued.sessionToken))).toBe('LOGIN_SESSION_EXPIRED');
  });

  it('answers look-ups made at once (they share statements) each with its own session or refusal', async () => {
    const live = await Promise.all(Array.from({ length: 6 }, () => loggedIn()));
    const revoked = await loggedIn();
    await h.sessions.revokeSessions({ userId: revoked.user.id, deviceId: 0n, reason: 'logout' });
    const rotated = await loggedIn();
    await h.sessions.rotateSession({ refreshToken: rotated.issued.refreshToken, deviceId: rotated.deviceId });
    const tokens = [
      ...live.map((l) => l.issued.sessionToken),
      revoked.issued.sessionToken,
      live[2]!.issued.sessionToken,
      'B'.repeat(43),
      rotated.issued.sessionToken,
      live[0]!.issued.sessionToken,
    ];
    const answers = await Promise.all(
      tokens.map((t) =>
        h.sessions.findBySessionToken(t).then(
          (found) => found.user.id,
          (err: unknown) => (err as { code?: string }).code,
        ),
      ),
    );
    expect(answers).toEqual([
      ...live.map((l) => l.user.id),
      'LOGIN_SESSION_EXPIRED',
      live[2]!.user.id,
      'LOGIN_SESSION_EXPIRED',
      'LOGIN_SESSION_EXPIRED',
      live[0]!.user.id,
    ]);
  });
});

describe('rotateSession', () => {
  it('issues a new pair in the family; the old session token and refresh token stop working', async () => {
    const { deviceId, issued } = await loggedIn();
    h.clock.advance(60_000);
    const next = await h.sessions.rotateSession({ refreshToken: issued.refreshToken, deviceId });
    expect(next.refreshToken).not.toBe(issued.refreshToken);
    expect(next.refreshExpiresAt).toEqual(issued.refreshExpiresAt); // the family's absolute end
    expect(await codeOf(h.sessions.findBySessionToken(issued.sessionToken))).toBe('LOGIN_SESSION_EXPIRED');
    expect(await codeOf(h.sessions.findBySessionToken(next.sessionToken))).toBe('ok');
  });

  it('reuse of a spent refresh token revokes the whole family', async () => {
    const { deviceId, issued } = await loggedIn();
    const second = await h.sessions.rotateSession({ refreshToken: issued.refreshToken, deviceId });
    expect(await codeOf(h.sessions.rotateSession({ refreshToken: issued.refreshToken, deviceId }))).toBe('INVALID_LOGIN_SESSION');
    // The thief replayed the old token; the live pair of the family is gone too.
    expect(await codeOf(h.sessions.findBySessionToken(second.sessionToken))).toBe('LOGIN_SESSION_EXPIRED');
    expect(await codeOf(h.sessions.rotateSession({ refreshToken: second.refreshToken, deviceId }))).toBe('INVALID_LOGIN_SESSION');
  });

  it('a refresh token presented from another device is refused and revokes the family', async () => {
    const { deviceId, issued } = await loggedIn();
    expect(await codeOf(h.sessions.rotateSession({ refreshToken: issued.refreshToken, deviceId: deviceId + 1n }))).toBe(
      'INVALID_LOGIN_SESSION',
    );
    expect(await codeOf(h.sessions.rotateSession({ refreshToken: issued.refreshToken, deviceId }))).toBe('INVALID_LOGIN_SESSION');
    expect(await codeOf(h.sessions.findBySessionToken(issued.sessionToken))).toBe('LOGIN_SESSION_EXPIRED');
  });

  it('of two concurrent rotations with one token, exactly one succeeds', async () => {
    for (let round = 0; round < 5; round++) {
      const { deviceId, issued } = await loggedIn();
      const results = await Promise.all([
        codeOf(h.sessions.rotateSession({ refreshToken: issued.refreshToken, deviceId })),
        codeOf(h.sessions.rotateSession({ refreshToken: issued.refreshToken, deviceId })),
      ]);
      expect(results.sort()).toEqual(['INVALID_LOGIN_SESSION', 'ok']);
    }
  });

  it('enforces the family absolute lifetime however often it rotates', async () => {
    const { deviceId, issued } = await loggedIn();
    let refreshToken = issued.refreshToken;
    for (let i = 0; i < 3; i++) {
      h.clock.advance(DEFAULT_TTLS.refreshFamilyTtlMs / 4);
      refreshToken = (await h.sessions.rotateSession({ refreshToken, deviceId })).refreshToken;
    }
    h.clock.advance(DEFAULT_TTLS.refreshFamilyTtlMs / 4);
    expect(await codeOf(h.sessions.rotateSession({ refreshToken, deviceId }))).toBe('INVALID_LOGIN_SESSION');
  });

  it('refuses unknown and empty tokens', async () => {
    expect(await codeOf(h.sessions.rotateSession({ refreshToken: '', deviceId: 1n }))).toBe('INVALID_LOGIN_SESSION');
    expect(await codeOf(h.sessions.rotateSession({ refreshToken: 'B'.repeat(43), deviceId: 1n }))).toBe('INVALID_LOGIN_SESSION');
  });
});

describe('revokeSessions', () => {
  it("ends the sessions on one device or all, never another user's", async () => {
    const a = await loggedIn();
    const b = await loggedIn();
    expect(await h.sessions.revokeSessions({ userId: a.user.id, deviceId: a.deviceId + 7n, reason: '' })).toBe(0);
    expect(await h.sessions.revokeSessions({ userId: a.user.id, deviceId: a.deviceId, reason: 'logout' })).toBe(1);
    expect(await codeOf(h.sessions.findBySessionToken(a.issued.sessionToken))).toBe('LOGIN_SESSION_EXPIRED');
    expect(await codeOf(h.sessions.findBySessionToken(b.issued.sessionToken))).toBe('ok');
  });

  it('announces every revocation after it is committed: revokeSessions, refresh-token reuse, BLOCKED, device change', async () => {
    const a = await loggedIn();
    const heard = () => h.sessionRevocations.filter((r) => r.userId === a.user.id);
    await h.sessions.revokeSessions({ userId: a.user.id, deviceId: a.deviceId, reason: 'logout' });
    expect(heard()).toEqual([{ userId: a.user.id, deviceId: a.deviceId }]);
    // Announced only once the revocation is visible to a re-check.
    expect(await codeOf(h.sessions.findBySessionToken(a.issued.sessionToken))).toBe('LOGIN_SESSION_EXPIRED');

    const b = await loggedIn();
    await h.sessions.rotateSession({ refreshToken: b.issued.refreshToken, deviceId: b.deviceId });
    await codeOf(h.sessions.rotateSession({ refreshToken: b.issued.refreshToken, deviceId: b.deviceId }));
    expect(h.sessionRevocations.filter((r) => r.userId === b.user.id)).toEqual([{ userId: b.user.id, deviceId: b.deviceId }]);

    const c = await loggedIn();
    await h.accounts.bindDevice({ userId: c.user.id, deviceId: c.deviceId + 1000n });
    expect(h.sessionRevocations.filter((r) => r.userId === c.user.id)).toEqual([{ userId: c.user.id, deviceId: c.deviceId }]);

    const d = await loggedIn();
    await h.accounts.updateUserStatus({ userId: d.user.id, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: '', unlock: false });
    expect(h.sessionRevocations.filter((r) => r.userId === d.user.id)).toEqual([{ userId: d.user.id, deviceId: null }]);
  });
});

describe('purgeExpiredRows', () => {
  it('deletes processes and session families a day after they ended, and nothing live', async () => {
    const old = await loggedIn();
    const oldProcess = await h.processes.createProcess({ userId: old.user.id, transactionType: 'LOGIN', transactionContext: '' });
    h.clock.advance(DEFAULT_TTLS.refreshFamilyTtlMs + PURGE_GRACE_MS + 1);
    const fresh = await loggedIn();
    const freshProcess = await h.processes.createProcess({ userId: fresh.user.id, transactionType: 'LOGIN', transactionContext: '' });
    const purged = await purgeExpiredRows(h.deps);
    expect(purged.sessions).toBeGreaterThanOrEqual(1);
    expect(purged.processes).toBeGreaterThanOrEqual(1);
    const ids = async (table: 'sessions' | 'processes', userId: bigint) =>
      (await h.db.selectFrom(table).select('user_id').where('user_id', '=', userId.toString()).execute()).length;
    expect(await ids('sessions', old.user.id)).toBe(0);
    expect(await ids('sessions', fresh.user.id)).toBe(1);
    expect(await h.db.selectFrom('processes').select('id').where('id', 'in', [oldProcess.id, freshProcess.id]).execute()).toEqual([
      { id: freshProcess.id },
    ]);
    expect(await codeOf(h.sessions.findBySessionToken(fresh.issued.sessionToken))).toBe('ok');
  });
});
