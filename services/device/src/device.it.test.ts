import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { createDeviceVerifier, isDeviceRevoked, loadDeviceCa, loadDeviceCaSigner, type DeviceCaSigner } from '@kfrm/device-trust';
import { DomainError, RateLimitedError } from '@kfrm/errors';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { ensureDevCertificates, x509 } from '@kfrm/pki';
import { createMemoryStore, createStore, type Store } from '@kfrm/store';
import { createDeviceRegistry, remarkRevokedDevices, type DeviceRegistry } from './device';
import { findDevice, nextDeviceId, type DeviceDb } from './device.repository';
import { DEVICE_SCHEMA, type DeviceDatabase } from './device.table';
import { migrations } from './migrations';
import { P256, RSA2048, spkiPem } from './testing/keys.fixtures';

const DAY_MS = 24 * 60 * 60 * 1000;
let dir: string;
let database: TestDatabase;
let db: DeviceDb;
let store: Store;
let signer: DeviceCaSigner;
const logs = createCapturingDestination();
const logger = createLogger({ service: 'device-test', level: 'debug', destination: logs });

/** A caller address of its own per call: the store is shared Redis, unprefixed here. */
const anyCaller = () => ({ address: `test-${randomUUID()}` });

function registry(
  overrides: { now?: () => Date; validityDays?: number; store?: Store; createLimit?: { limit: number; windowMs: number } } = {},
): DeviceRegistry {
  return createDeviceRegistry({
    db,
    store: overrides.store ?? store,
    logger,
    signer,
    validityDays: overrides.validityDays ?? 365,
    createLimit: overrides.createLimit ?? { limit: 1000, windowMs: 60_000 },
    now: overrides.now,
  });
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'ok',
    (err: unknown) => (err instanceof DomainError ? err.code : `unexpected ${String(err)}`),
  );
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'device-it-'));
  const files = await ensureDevCertificates(dir);
  signer = await loadDeviceCaSigner(await loadDeviceCa({ certFile: files.deviceCaCertFile, keyFile: files.deviceCaKeyFile }));
  database = await openTestDatabase();
  await migrateSchema(database, { schema: DEVICE_SCHEMA, migrations });
  db = database.kysely<DeviceDatabase>(DEVICE_SCHEMA);
  store = await createStore({ redisUrl: process.env.REDIS_URL });
});

afterAll(async () => {
  await store?.close();
  await database?.close();
  await rm(dir, { recursive: true, force: true });
});

beforeEach(() => {
  logs.lines.length = 0;
});

describe('createDevice', () => {
  it('refuses a caller over its CreateDevice limit with a RateLimitedError, while another address is still served', async () => {
    const limited = registry({ createLimit: { limit: 2, windowMs: 60_000 } });
    const hammering = anyCaller();
    await limited.createDevice(spkiPem(P256), hammering);
    await limited.createDevice(spkiPem(P256), hammering);
    await expect(limited.createDevice(spkiPem(P256), hammering)).rejects.toBeInstanceOf(RateLimitedError);
    expect((await limited.createDevice(spkiPem(P256), anyCaller())).deviceId).toBeGreaterThan(0n);
  });

  it('stores the device with the certificate it returns, one row per call', async () => {
    const pem = spkiPem(P256);
    const first = await registry().createDevice(pem, anyCaller());
    const second = await registry().createDevice(spkiPem(RSA2048), anyCaller());
    expect(second.deviceId).toBeGreaterThan(first.deviceId);

    const row = await findDevice(db, first.deviceId);
    const certificate = new x509.X509Certificate(first.certificateDer);
    expect(row).toMatchObject({
      id: first.deviceId,
      keyAlgorithm: 'EC_P256',
      serial: certificate.serialNumber,
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      createdAt: first.createdAt,
      revokedAt: null,
      revocationReason: null,
    });
    expect(row?.spkiSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(Buffer.from(row!.certificateDer)).toEqual(Buffer.from(first.certificateDer));
    expect(certificate.subject).toBe(`CN=device-${first.deviceId}`);
    expect((await findDevice(db, second.deviceId))?.keyAlgorithm).toBe('RSA_2048');
  });

  it('writes nothing for a refused key', async () => {
    const before = await db
      .selectFrom('devices')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(await codeOf(registry().createDevice('garbage', anyCaller()))).toBe('DEVICE_CERTIFICATE_ISSUANCE_FAILED');
    const after = await db
      .selectFrom('devices')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
  });

  it('leaves no device behind when the insert fails', async () => {
    // A table that refuses every row stands in for any failure after signing: the id was taken,
    // but no row (and so no usable device) exists for it.
    const other = await openTestDatabase();
    try {
      await migrateSchema(other, { schema: DEVICE_SCHEMA, migrations });
      const otherDb = other.kysely<DeviceDatabase>(DEVICE_SCHEMA);
      await otherDb.schema.alterTable('devices').addCheckConstraint('refuse_all', sql`false`).execute();
      const failing = createDeviceRegistry({
        db: otherDb,
        store,
        logger,
        signer,
        validityDays: 365,
        createLimit: { limit: 1000, windowMs: 60_000 },
      });
      await expect(failing.createDevice(spkiPem(P256), anyCaller())).rejects.toThrow();
      const { n } = await otherDb
        .selectFrom('devices')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow();
      expect(Number(n)).toBe(0);
    } finally {
      await other.close();
    }
  });

  it('logs the issuance without the certificate or key', async () => {
    const device = await registry().createDevice(spkiPem(P256), anyCaller());
    const text = logs.text();
    expect(text).toContain(`"device_id":"${device.deviceId}"`);
    expect(text).not.toContain(Buffer.from(device.certificateDer).toString('base64').slice(0, 40));
    expect(text).not.toContain(spkiPem(P256).split('\n')[1]!);
  });
});

describe('revokeDevice', () => {
  it('records the revocation in Postgres and the store, and the verifier refuses the certificate', async () => {
    const device = await registry().createDevice(spkiPem(P256), anyCaller());
    const verify = createDeviceVerifier({ deviceCaCert: signer.certificate, store });
    expect((await verify(device.certificateDer))?.deviceId).toBe(String(device.deviceId));

    const { revokedAt } = await registry().revokeDevice(device.deviceId, 'DEVICE_CHANGED');
    const row = await findDevice(db, device.deviceId);
    expect(row?.revokedAt).toEqual(revokedAt);
    expect(row?.revocationReason).toBe('DEVICE_CHANGED');
    expect(await isDeviceRevoked(store, row!.serial)).toBe(true);
    expect(await verify(device.certificateDer)).toBeUndefined();
  });

  it('is idempotent: the first time and reason stay, the store mark is written again', async () => {
    const device = await registry().createDevice(spkiPem(P256), anyCaller());
    const first = await registry().revokeDevice(device.deviceId, 'USER_BLOCKED');
    const serial = (await findDevice(db, device.deviceId))!.serial;
    const flushed = createMemoryStore();
    const later = new Date(Date.now() + 60_000);
    const second = await registry({ store: flushed, now: () => later }).revokeDevice(device.deviceId, 'COMPROMISED');
    expect(second.revokedAt).toEqual(first.revokedAt);
    expect((await findDevice(db, device.deviceId))?.revocationReason).toBe('USER_BLOCKED');
    expect(await isDeviceRevoked(flushed, serial)).toBe(true);
    await flushed.close();
  });

  it('fails with DEVICE_NOT_FOUND for an unknown device', async () => {
    expect(await codeOf(registry().revokeDevice(987_654_321n, 'USER_BLOCKED'))).toBe('DEVICE_NOT_FOUND');
  });

  it('reports a store outage after recording the revocation, and a retry completes it', async () => {
    const device = await registry().createDevice(spkiPem(P256), anyCaller());
    const down = createMemoryStore();
    await down.close();
    await expect(registry({ store: down }).revokeDevice(device.deviceId, 'USER_BLOCKED')).rejects.toMatchObject({
      name: 'StoreUnavailableError',
    });
    expect((await findDevice(db, device.deviceId))?.revokedAt).not.toBeNull();
    await registry().revokeDevice(device.deviceId, 'USER_BLOCKED');
    expect(await isDeviceRevoked(store, (await findDevice(db, device.deviceId))!.serial)).toBe(true);
  });
});

describe('remarkRevokedDevices', () => {
  it('rewrites the marks of revoked, unexpired certificates into a flushed store, and only those', async () => {
    const longAgo = new Date(Date.now() - 400 * DAY_MS);
    const expired = await registry({ now: () => longAgo, validityDays: 1 }).createDevice(spkiPem(P256), anyCaller());
    await registry({ now: () => longAgo }).revokeDevice(expired.deviceId, 'USER_BLOCKED');
    const live = await registry().createDevice(spkiPem(P256), anyCaller());
    await registry().revokeDevice(live.deviceId, 'DEVICE_CHANGED');
    const untouched = await registry().createDevice(spkiPem(P256), anyCaller());

    const flushed = createMemoryStore();
    const marked = await remarkRevokedDevices({ db, store: flushed, logger });
    const serial = async (id: bigint) => (await findDevice(db, id))!.serial;
    expect(await isDeviceRevoked(flushed, await serial(live.deviceId))).toBe(true);
    expect(await isDeviceRevoked(flushed, await serial(expired.deviceId))).toBe(false);
    expect(await isDeviceRevoked(flushed, await serial(untouched.deviceId))).toBe(false);
    const revokedUnexpired = await db
      .selectFrom('devices')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('revoked_at', 'is not', null)
      .where('not_after', '>', new Date())
      .executeTakeFirstOrThrow();
    expect(marked).toBe(Number(revokedUnexpired.n));
    await flushed.close();
  });

  it('takes ids from the identity sequence without reusing them', async () => {
    const a = await nextDeviceId(db);
    const b = await nextDeviceId(db);
    expect(b).toBeGreaterThan(a);
    const device = await registry().createDevice(spkiPem(P256), anyCaller());
    expect(device.deviceId).toBeGreaterThan(b);
  });
});
