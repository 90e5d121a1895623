import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@kfrm/config';
import { KeyEncryptionKey } from '@kfrm/e2e-crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccounts } from './accounts';
import { sealUnsealedResidentIds } from './housekeeping';
import { createResidentIdSealer, residentIdOf, SealedResidentIdError } from './resident-id-seal';
import { activatedUser, openHarness, type Harness } from './testing/user.harness';
import { toProtoUser } from './user.mapping';
import { loadUserDataKey } from './user.module';

let h: Harness;

beforeAll(async () => {
  h = await openHarness();
});

afterAll(async () => {
  await h?.close();
});

const rawRow = (userId: bigint) => h.db.selectFrom('users').selectAll().where('id', '=', userId.toString()).executeTakeFirstOrThrow();
const digitsOf = (residentId: string) => residentId.replace('-', '');

describe('resident ids at rest', () => {
  it('stores only the sealed form; FindByUserId still returns the number', async () => {
    const { user } = await activatedUser(h);
    await h.accounts.updateCustomerInfo({ userId: user.id, residentId: '900115-1987654', name: user.userName });
    const row = await rawRow(user.id);
    expect(row.resident_id).toBeNull();
    expect(row.resident_id_sealed).toMatch(/^[A-Za-z0-9_-]+$/);
    for (const part of ['900115', '1987654', digitsOf('900115-1987654')]) expect(JSON.stringify(row)).not.toContain(part);
    expect(toProtoUser(await h.accounts.findByUserId(user.id), h.deps.residentIds).residentId).toBe('900115-1987654');
    // The same number again is accepted (compared in the clear), another is refused.
    await expect(
      h.accounts.updateCustomerInfo({ userId: user.id, residentId: '900115-1987654', name: user.userName }),
    ).resolves.toBeDefined();
    await expect(
      h.accounts.updateCustomerInfo({ userId: user.id, residentId: '900116-1987654', name: user.userName }),
    ).rejects.toMatchObject({
      code: 'USER_VERIFICATION_FAILED',
    });
  });

  it('seals a plain legacy row at start (idempotently) and still reads it back', async () => {
    const { user } = await activatedUser(h);
    await h.db
      .updateTable('users')
      .set({ resident_id: '851201-2876543', resident_id_sealed: null })
      .where('id', '=', user.id.toString())
      .execute();
    // Read as it is until the backfill runs (a row an older replica wrote during a rolling update).
    expect(residentIdOf(h.deps.residentIds, await h.accounts.findByUserId(user.id))).toBe('851201-2876543');
    h.logs.lines.length = 0;
    expect(await sealUnsealedResidentIds(h.deps, 2)).toBeGreaterThanOrEqual(1);
    const row = await rawRow(user.id);
    expect(row.resident_id).toBeNull();
    expect(JSON.stringify(row)).not.toContain('2876543');
    expect(toProtoUser(await h.accounts.findByUserId(user.id), h.deps.residentIds).residentId).toBe('851201-2876543');
    expect(await sealUnsealedResidentIds(h.deps)).toBe(0);
    const logged = h.logs.lines.join('\n');
    expect(logged).toContain('plain resident ids sealed');
    expect(logged).not.toContain('2876543');
    expect(logged).not.toContain(row.resident_id_sealed!);
  });

  it('fails loudly, without the value, when a record was sealed under another key', async () => {
    const { user } = await activatedUser(h);
    const other = createResidentIdSealer(KeyEncryptionKey.generate());
    await h.db
      .updateTable('users')
      .set({ resident_id_sealed: other.seal(user.id, '900115-1987654') })
      .where('id', '=', user.id.toString())
      .execute();
    const found = await h.accounts.findByUserId(user.id);
    expect(() => toProtoUser(found, h.deps.residentIds)).toThrow(SealedResidentIdError);
    expect(() => toProtoUser(found, h.deps.residentIds)).not.toThrow(/900115|1987654/);
    await expect(
      h.accounts.updateCustomerInfo({ userId: user.id, residentId: '900115-1987654', name: user.userName }),
    ).rejects.toBeInstanceOf(SealedResidentIdError);
  });

  it("does not open a sealed value copied into another user's row", async () => {
    const { user: owner } = await activatedUser(h);
    const { user: thief } = await activatedUser(h);
    await h.accounts.updateCustomerInfo({ userId: owner.id, residentId: '771231-2876543', name: owner.userName });
    const { resident_id_sealed } = await rawRow(owner.id);
    await h.db.updateTable('users').set({ resident_id_sealed }).where('id', '=', thief.id.toString()).execute();
    expect(() => residentIdOf(h.deps.residentIds, { ...thief, residentIdSealed: resident_id_sealed, residentIdUnsealed: null })).toThrow(
      SealedResidentIdError,
    );
    const copied = await h.accounts.findByUserId(thief.id);
    expect(() => toProtoUser(copied, h.deps.residentIds)).toThrow(SealedResidentIdError);
    // With the right user it opens: the failure above is the binding, not the value.
    expect(residentIdOf(h.deps.residentIds, await h.accounts.findByUserId(owner.id))).toBe('771231-2876543');
  });

  it('answers USER_VERIFICATION_FAILED, not INTERNAL, for a plain row that holds another number', async () => {
    const { user } = await activatedUser(h);
    await h.db.updateTable('users').set({ resident_id: '851201-2876543' }).where('id', '=', user.id.toString()).execute();
    const accounts = createAccounts(h.deps);
    await expect(accounts.updateCustomerInfo({ userId: user.id, residentId: '900115-1987654', name: user.userName })).rejects.toMatchObject(
      {
        code: 'USER_VERIFICATION_FAILED',
      },
    );
    await accounts.updateCustomerInfo({ userId: user.id, residentId: '851201-2876543', name: user.userName });
    expect((await rawRow(user.id)).resident_id).toBeNull();
  });
});

describe('the user data key', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kfrm-user-key-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is required in real mode, naming the variable', async () => {
    await expect(loadUserDataKey(undefined, { mode: 'real', dataDir: dir })).rejects.toThrow(ConfigError);
    await expect(loadUserDataKey(undefined, { mode: 'real', dataDir: dir })).rejects.toThrow(/KFRM_USER_DATA_KEY_FILE is required/);
    await expect(loadUserDataKey(join(dir, 'absent'), { mode: 'real', dataDir: dir })).rejects.toThrow(
      /KFRM_USER_DATA_KEY_FILE: cannot read/,
    );
  });

  it('is generated once (0600) in the embedded default', async () => {
    const first = createResidentIdSealer(await loadUserDataKey(undefined, { mode: 'embedded', dataDir: dir }));
    const again = createResidentIdSealer(await loadUserDataKey(undefined, { mode: 'embedded', dataDir: dir }));
    expect(again.open(1n, first.seal(1n, '900115-1987654'))).toBe('900115-1987654');
    expect((await stat(join(dir, 'keys', 'user-data-key'))).mode & 0o777).toBe(0o600);
  });
});
