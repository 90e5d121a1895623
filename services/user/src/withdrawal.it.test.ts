// Member withdrawal's steps on PostgreSQL, with the other services as stand-ins: a device service
// that is down when Withdraw runs (the member is out anyway; the hourly tick finishes), an auth
// service whose revocations are counted, and the erasure of sealed data after retention.
import { KeyEncryptionKey } from '@kfrm/e2e-crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { activatedUser, codeOf, openHarness, type Harness } from './testing/user.harness';
import { toProtoProcess } from './user.mapping';
import { erasePersonalDataPastRetention, findUserByTokenHash } from './user.repository';
import { createWithdrawal } from './withdrawal';
import { createWithdrawnNameSealer } from './withdrawn-name-seal';
import { tokenHash } from './tokens';

let h: Harness;
const openAccounts = new Map<bigint, number>();
const credentialRevocations: bigint[] = [];
const names = createWithdrawnNameSealer(KeyEncryptionKey.generate());

beforeAll(async () => {
  h = await openHarness();
});

afterAll(async () => {
  await h?.close();
});

function withdrawal() {
  return createWithdrawal({
    db: h.db,
    logger: h.deps.logger,
    now: h.clock.now,
    ledger: { countOpenAccounts: async (userId) => openAccounts.get(userId) ?? 0 },
    credentials: {
      async revokeCredentials(userId) {
        credentialRevocations.push(userId);
      },
    },
    devices: h.deps.devices,
    names,
    processes: {
      createProcess: (input) => h.processes.createProcess(input),
      consumeProcess: (input) => h.processes.consumeProcess(input),
      toWire: toProtoProcess,
    },
    updateUserStatus: (input) => h.accounts.updateUserStatus(input),
  });
}

const row = (userId: bigint) => h.db.selectFrom('users').selectAll().where('id', '=', userId.toString()).executeTakeFirstOrThrow();

describe('member withdrawal', () => {
  it('refuses with an open account or without its DONE process, writing nothing', async () => {
    const w = withdrawal();
    const { user } = await activatedUser(h);
    openAccounts.set(user.id, 1);
    expect(await codeOf(w.prepareWithdrawal(user.id))).toBe('MEMBER_HAS_OPEN_ACCOUNTS');
    openAccounts.delete(user.id);
    const process = await w.prepareWithdrawal(user.id);
    openAccounts.set(user.id, 1);
    await h.processes.completeAuthentication({ processId: process.processId, userId: user.id, type: 'PIN' });
    expect(await codeOf(w.withdraw(user.id, process.processId))).toBe('MEMBER_HAS_OPEN_ACCOUNTS');
    openAccounts.delete(user.id);
    expect(await codeOf(w.withdraw(user.id, 'not-a-process'))).toBe('AUTHENTICATION_FAILED');
    // Another member's DONE process is of no use.
    const { user: other } = await activatedUser(h);
    expect(await codeOf(w.withdraw(other.id, process.processId))).toBe('AUTHENTICATION_FAILED');
    const r = await row(user.id);
    expect([r.status, r.withdrawal_requested_at, r.phone_number]).toEqual(['ACTIVATED', null, '01012345678']);
  });

  it('answers success with the device service down; the tick finishes; the old token finds nobody; retention ends in erasure', async () => {
    const w = withdrawal();
    const { user, userToken } = await activatedUser(h);
    const process = await w.prepareWithdrawal(user.id);
    await h.processes.completeAuthentication({ processId: process.processId, userId: user.id, type: 'PIN' });
    h.deviceServiceDown.value = true;
    try {
      await w.withdraw(user.id, process.processId);
    } finally {
      h.deviceServiceDown.value = false;
    }
    let r = await row(user.id);
    expect(r.status).toBe('DEACTIVATED');
    expect(r.user_name).toBe('');
    expect(names.openName(user.id, r.withdrawn_name_sealed!)).toBe('홍길동');
    expect(r.withdrawal_completed_at).toBeNull();
    expect(credentialRevocations).not.toContain(user.id);
    // Single use: the same process cannot withdraw again.
    expect(await codeOf(w.withdraw(user.id, process.processId))).toBe('AUTHENTICATION_FAILED');

    expect(await w.finishWithdrawals()).toBeGreaterThanOrEqual(1);
    r = await row(user.id);
    expect(r.withdrawal_completed_at).not.toBeNull();
    expect(credentialRevocations).toContain(user.id);
    expect(h.revokedDevices.map((d) => d.deviceId)).toContain(user.deviceId);
    expect(await findUserByTokenHash(h.db, tokenHash(userToken))).toBeUndefined();
    // A second tick has nothing left to do for this member.
    const revocations = credentialRevocations.length;
    await w.finishWithdrawals();
    expect(credentialRevocations.length).toBe(revocations);

    // Five years on, the sealed name and resident id go too.
    expect(await erasePersonalDataPastRetention(h.db, new Date(r.personal_data_retain_until!.getTime() - 1))).toBe(0);
    expect(await erasePersonalDataPastRetention(h.db, r.personal_data_retain_until!)).toBeGreaterThanOrEqual(1);
    r = await row(user.id);
    expect([r.withdrawn_name_sealed, r.resident_id_sealed, r.personal_data_retain_until]).toEqual([null, null, null]);
  });
});
