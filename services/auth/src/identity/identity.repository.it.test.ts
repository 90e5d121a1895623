import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrations } from '../migrations';
import {
  findActiveCertificate,
  findBiometricKey,
  findBiometricKeyWithActiveCertificate,
  findSecret,
  findSecretWithActiveCertificate,
  findUsersWithBiometricKeyOnDevice,
} from './identity.repository';
import type { IdentityDatabase } from './identity.table';

// The factor reads of PIN, biometric and signature checks are batched: concurrent checks share
// statements. Each must still get its own user's row, or none.
let database: TestDatabase;
let db: Kysely<IdentityDatabase>;
let statements = 0;
const now = new Date('2026-12-07T12:00:00Z');

beforeAll(async () => {
  database = await openTestDatabase({ log: { debug: () => void statements++ } });
  await migrateSchema(database, { schema: 'auth', migrations });
  db = database.kysely<IdentityDatabase>('auth');
  for (let user = 1; user <= 8; user++) {
    await db
      .insertInto('secret_credentials')
      .values([
        { user_id: String(user), kind: 'pin', hash: `pin-of-${user}`, failures: user % 3, locked: user === 4, updated_at: now },
        ...(user % 2 === 0 ? [{ user_id: String(user), kind: 'pattern' as const, hash: `pattern-of-${user}`, updated_at: now }] : []),
      ])
      .execute();
    if (user !== 5)
      await db
        .insertInto('biometric_keys')
        .values({
          user_id: String(user),
          device_id: String(100 + user),
          public_key: Uint8Array.of(user),
          enabled: user !== 6,
          updated_at: now,
        })
        .execute();
    const certificate = (serial: string, status: 'active' | 'revoked', notAfter: Date) =>
      db
        .insertInto('signing_certificates')
        .values({ user_id: String(user), serial_number: serial, der: Uint8Array.of(user), status, not_after: notAfter })
        .execute();
    await certificate(`old-${user}`, 'revoked', new Date('2027-01-01T00:00:00Z'));
    if (user === 7) await certificate(`expired-${user}`, 'active', new Date('2026-12-07T11:59:59Z'));
    else if (user !== 3) await certificate(`serial-${user}`, 'active', new Date('2027-06-01T00:00:00Z'));
  }
});

afterAll(async () => {
  await database?.close();
});

/** Runs the reads at once and counts the statements they took. */
async function atOnce<T>(reads: (() => Promise<T>)[]): Promise<{ answers: T[]; statements: number }> {
  const before = statements;
  const answers = await Promise.all(reads.map((read) => read()));
  return { answers, statements: statements - before };
}

describe('the factor reads, made at once by concurrent checks', () => {
  it('findSecret: each (user, kind) its own hash and attempt record, none for a kind not set', async () => {
    const asked: [bigint, 'pin' | 'pattern'][] = [
      [1n, 'pin'],
      [2n, 'pattern'],
      [3n, 'pattern'],
      [4n, 'pin'],
      [2n, 'pin'],
      [99n, 'pin'],
      [8n, 'pattern'],
      [1n, 'pin'],
    ];
    const { answers, statements: used } = await atOnce(
      asked.map(
        ([user, kind]) =>
          () =>
            findSecret(db, user, kind),
      ),
    );
    expect(answers).toEqual([
      { hash: 'pin-of-1', failures: 1, locked: false },
      { hash: 'pattern-of-2', failures: 0, locked: false },
      undefined,
      { hash: 'pin-of-4', failures: 1, locked: true },
      { hash: 'pin-of-2', failures: 2, locked: false },
      undefined,
      { hash: 'pattern-of-8', failures: 0, locked: false },
      { hash: 'pin-of-1', failures: 1, locked: false },
    ]);
    expect(used).toBeLessThan(asked.length);
  });

  it('findBiometricKey: each user their own key, enabled or not; none for a user without one', async () => {
    const users = [6n, 1n, 5n, 8n, 2n, 6n];
    const { answers, statements: used } = await atOnce(users.map((user) => () => findBiometricKey(db, user)));
    expect(answers.map((k) => k && { device: k.device_id, key: [...k.public_key], enabled: k.enabled })).toEqual([
      { device: '106', key: [6], enabled: false },
      { device: '101', key: [1], enabled: true },
      undefined,
      { device: '108', key: [8], enabled: true },
      { device: '102', key: [2], enabled: true },
      { device: '106', key: [6], enabled: false },
    ]);
    expect(used).toBeLessThan(users.length);
  });

  it('findUsersWithBiometricKeyOnDevice: each device the users of its enabled keys, in a list of its own', async () => {
    await db
      .insertInto('biometric_keys')
      .values({ user_id: '9', device_id: '101', public_key: Uint8Array.of(9), enabled: true, updated_at: now })
      .onConflict((oc) => oc.doNothing())
      .execute();
    const devices = [101n, 106n, 102n, 105n, 101n];
    const { answers, statements: used } = await atOnce(devices.map((device) => () => findUsersWithBiometricKeyOnDevice(db, device)));
    expect(answers.map((users) => users.map(String).sort())).toEqual([['1', '9'], [], ['2'], [], ['1', '9']]);
    expect(answers[0]).not.toBe(answers[4]);
    expect(used).toBeLessThan(devices.length);
  });

  it('findActiveCertificate: each user their active, unexpired certificate; none when revoked, expired or missing', async () => {
    const users = [2n, 3n, 7n, 1n, 8n, 42n, 2n];
    const { answers, statements: used } = await atOnce(users.map((user) => () => findActiveCertificate(db, user, now)));
    expect(answers.map((c) => c?.serial_number)).toEqual(['serial-2', undefined, undefined, 'serial-1', 'serial-8', undefined, 'serial-2']);
    expect([...answers[0]!.der]).toEqual([2]);
    expect(answers[0]!.not_after).toEqual(new Date('2027-06-01T00:00:00Z'));
    expect(used).toBeLessThan(users.length);
  });

  it('findActiveCertificate judges expiry at the latest time asked: a certificate that expired meanwhile is not answered', async () => {
    const before = new Date('2026-12-07T11:59:00Z');
    const { answers } = await atOnce([
      () => findActiveCertificate(db, 1n, now),
      () => findActiveCertificate(db, 1n, now),
      () => findActiveCertificate(db, 7n, before),
      () => findActiveCertificate(db, 7n, now),
    ]);
    expect(answers.map((c) => c?.serial_number)).toEqual(['serial-1', 'serial-1', undefined, undefined]);
    // Alone, the earlier time still sees it.
    expect((await findActiveCertificate(db, 7n, before))?.serial_number).toBe('expired-7');
  });

  it('findActiveCertificate refuses an invalid time alone: the reads made with it are answered', async () => {
    // The first two take both statement slots; the next three would go together.
    const reads = [
      findActiveCertificate(db, 1n, now),
      findActiveCertificate(db, 8n, now),
      findActiveCertificate(db, 1n, now),
      findActiveCertificate(db, 2n, new Date(Number.NaN)),
      findActiveCertificate(db, 8n, now),
    ];
    const [, , first, invalid, third] = await Promise.allSettled(reads);
    expect(first).toMatchObject({ status: 'fulfilled', value: { serial_number: 'serial-1' } });
    expect(invalid).toMatchObject({ status: 'rejected', reason: expect.any(RangeError) });
    expect(third).toMatchObject({ status: 'fulfilled', value: { serial_number: 'serial-8' } });
  });

  it('findSecretWithActiveCertificate: each (user, kind) its secret and the user’s active certificate, in one row', async () => {
    const asked: [bigint, 'pin' | 'pattern'][] = [
      [2n, 'pin'],
      [3n, 'pin'],
      [7n, 'pin'],
      [2n, 'pattern'],
      [5n, 'pattern'],
      [8n, 'pin'],
    ];
    const { answers, statements: used } = await atOnce(
      asked.map(
        ([user, kind]) =>
          () =>
            findSecretWithActiveCertificate(db, user, kind, now),
      ),
    );
    const serial = (answer: (typeof answers)[number]) =>
      answer && { hash: answer.secret.hash, certificate: answer.certificate?.serialNumber };
    // User 3 has no active certificate, user 7's expired, user 5 no pattern.
    expect(answers.map(serial)).toEqual([
      { hash: 'pin-of-2', certificate: 'serial-2' },
      { hash: 'pin-of-3', certificate: undefined },
      { hash: 'pin-of-7', certificate: undefined },
      { hash: 'pattern-of-2', certificate: 'serial-2' },
      undefined,
      { hash: 'pin-of-8', certificate: 'serial-8' },
    ]);
    expect(answers[0]!.secret).toEqual({ hash: 'pin-of-2', failures: 2, locked: false });
    expect({ ...answers[0]!.certificate, der: [...answers[0]!.certificate!.der] }).toEqual({
      der: [2],
      serialNumber: 'serial-2',
      notAfter: new Date('2027-06-01T00:00:00Z'),
    });
    expect(used).toBeLessThan(asked.length);
  });

  it('findBiometricKeyWithActiveCertificate: each user their key and active certificate; the expiry judged at the latest time asked', async () => {
    const before = new Date('2026-12-07T11:59:00Z');
    const { answers } = await atOnce([
      () => findBiometricKeyWithActiveCertificate(db, 1n, now),
      () => findBiometricKeyWithActiveCertificate(db, 1n, now),
      () => findBiometricKeyWithActiveCertificate(db, 7n, before),
      () => findBiometricKeyWithActiveCertificate(db, 5n, now),
      () => findBiometricKeyWithActiveCertificate(db, 3n, now),
    ]);
    expect(answers.map((a) => a && { device: a.key.device_id, enabled: a.key.enabled, certificate: a.certificate?.serialNumber })).toEqual([
      { device: '101', enabled: true, certificate: 'serial-1' },
      { device: '101', enabled: true, certificate: 'serial-1' },
      { device: '107', enabled: true, certificate: undefined },
      undefined,
      { device: '103', enabled: true, certificate: undefined },
    ]);
    expect((await findBiometricKeyWithActiveCertificate(db, 7n, before))?.certificate?.serialNumber).toBe('expired-7');
    await expect(findBiometricKeyWithActiveCertificate(db, 1n, new Date(Number.NaN))).rejects.toThrow(RangeError);
  });

  it('inside a transaction a read sees the transaction’s own writes', async () => {
    const hash = await db.transaction().execute(async (trx) => {
      await trx.updateTable('secret_credentials').set({ hash: 'changed' }).where('user_id', '=', '3').where('kind', '=', 'pin').execute();
      return (await findSecret(trx, 3n, 'pin'))?.hash;
    });
    expect(hash).toBe('changed');
  });
});
