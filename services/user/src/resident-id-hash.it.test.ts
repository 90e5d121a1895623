// The keyed hash of resident ids (migration 005): stored with every sealed value, found without
// opening anything, filled for rows from before it (the backfill at start), and the key kept
// apart from the data key.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '@kfrm/config';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashUnhashedResidentIds, sealUnsealedResidentIds } from './housekeeping';
import { normaliseResidentId } from './resident-id-hash';
import { activatedUser, openHarness, type Harness } from './testing/user.harness';
import { loadResidentIdHashKey } from './user.module';

let h: Harness;

beforeAll(async () => {
  h = await openHarness();
});

afterAll(async () => {
  await h?.close();
});

const rawRow = (userId: bigint) => h.db.selectFrom('users').selectAll().where('id', '=', userId.toString()).executeTakeFirstOrThrow();

describe('resident id hash', () => {
  it('is stored with the sealed value, is keyed (not a plain digest), and does not depend on the dash', async () => {
    const { user } = await activatedUser(h);
    await h.accounts.updateCustomerInfo({ userId: user.id, residentId: '880202-1112223', name: user.userName });
    const row = await rawRow(user.id);
    expect(row.resident_id_hash).toBe(h.deps.residentIdHashes.hash('880202-1112223'));
    expect(h.deps.residentIdHashes.hash('8802021112223')).toBe(row.resident_id_hash);
    expect(normaliseResidentId('880202-1112223')).toBe('8802021112223');
    const { createHash } = await import('node:crypto');
    expect(row.resident_id_hash).not.toBe(createHash('sha256').update('8802021112223').digest('hex'));
    expect(JSON.stringify(row)).not.toContain('1112223');
  });

  it('refuses a member’s number for another user with ALREADY_REGISTERED_USER, writing nothing', async () => {
    const { user: member } = await activatedUser(h);
    await h.accounts.updateCustomerInfo({ userId: member.id, residentId: '870303-2223334', name: member.userName });
    const { user: other } = await activatedUser(h);
    await expect(
      h.accounts.updateCustomerInfo({ userId: other.id, residentId: '870303-2223334', name: other.userName }),
    ).rejects.toMatchObject({ code: 'ALREADY_REGISTERED_USER' });
    const row = await rawRow(other.id);
    expect([row.resident_id_sealed, row.resident_id_hash, row.customer_id]).toEqual([null, null, null]);
  });

  it('backfills rows from before the hash — plain legacy ones too — and leaves numbers two users share for an operator', async () => {
    const a = (await activatedUser(h)).user;
    const b = (await activatedUser(h)).user;
    const c = (await activatedUser(h)).user;
    await h.accounts.updateCustomerInfo({ userId: a.id, residentId: '860404-1334445', name: a.userName });
    // b holds the same number sealed (written before the rule), c a plain legacy row.
    await h.db
      .updateTable('users')
      .set({ resident_id_sealed: h.deps.residentIds.seal(b.id, '860404-1334445') })
      .where('id', '=', b.id.toString())
      .execute();
    await h.db.updateTable('users').set({ resident_id: '790505-2445556' }).where('id', '=', c.id.toString()).execute();
    // As migration 005 leaves them: no hash anywhere.
    await h.db.updateTable('users').set({ resident_id_hash: null }).execute();
    h.logs.lines.length = 0;
    await sealUnsealedResidentIds(h.deps);
    const first = await hashUnhashedResidentIds(h.deps, 2);
    expect(first.shared).toBe(1);
    expect(first.hashed).toBeGreaterThanOrEqual(2);
    expect((await rawRow(a.id)).resident_id_hash).toBe(h.deps.residentIdHashes.hash('860404-1334445'));
    expect((await rawRow(b.id)).resident_id_hash).toBeNull();
    expect((await rawRow(c.id)).resident_id_hash).toBe(h.deps.residentIdHashes.hash('790505-2445556'));
    // Logged as a count, never a number; a second run changes nothing and reports the same share.
    expect(h.logs.text()).not.toContain('1334445');
    expect(await hashUnhashedResidentIds(h.deps)).toEqual({ hashed: 0, shared: 1 });
  });

  it('takes its key from KFRM_USER_RESIDENT_ID_HASH_KEY_FILE: required in real mode, never the data key file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kfrm-rrn-hash-'));
    try {
      await expect(loadResidentIdHashKey(undefined, '/k/data', { mode: 'real', dataDir: dir })).rejects.toBeInstanceOf(ConfigError);
      await expect(loadResidentIdHashKey('/k/data', '/k/data', { mode: 'real', dataDir: dir })).rejects.toBeInstanceOf(ConfigError);
      const generated = await loadResidentIdHashKey(undefined, undefined, { mode: 'embedded', dataDir: dir });
      const again = await loadResidentIdHashKey(undefined, undefined, { mode: 'embedded', dataDir: dir });
      expect(generated.mac(Buffer.from('x')).equals(again.mac(Buffer.from('x')))).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
