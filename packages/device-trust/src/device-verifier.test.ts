import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevCertificates, x509 } from '@kfrm/pki';
import { createMemoryStore, createStore, isStoreUnavailableError, type Store } from '@kfrm/store';
import { DeviceCaError, loadDeviceCa, loadDeviceCaSigner, type DeviceCaSigner } from './device-ca';
import { deviceCertificateNames, DEVICE_URI_PREFIX } from './device-identity';
import { createDeviceVerifier } from './device-verifier';
import { isDeviceRevoked, markDeviceRevoked, revokedDeviceKey } from './revocation';
import { deviceKeyPair, issueTestCertificate } from './testing/certificates.fixtures';

const DAY_MS = 24 * 60 * 60 * 1000;

let dir: string;
let ca: DeviceCaSigner;
let otherCa: DeviceCaSigner;
let store: Store;
const signerOf = (s: DeviceCaSigner) => ({ ...s, issuer: s.certificate.subject });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'device-trust-'));
  const files = await ensureDevCertificates(join(dir, 'a'));
  ca = await loadDeviceCaSigner(await loadDeviceCa({ certFile: files.deviceCaCertFile, keyFile: files.deviceCaKeyFile }));
  const other = await ensureDevCertificates(join(dir, 'b'));
  otherCa = await loadDeviceCaSigner(await loadDeviceCa({ certFile: other.deviceCaCertFile, keyFile: other.deviceCaKeyFile }));
  // Redis when REDIS_URL is set (the deployed shape), in-process otherwise.
  store = await createStore({ redisUrl: process.env.REDIS_URL });
});

afterAll(async () => {
  await store?.close();
  await rm(dir, { recursive: true, force: true });
});

const verifier = () => createDeviceVerifier({ deviceCaCert: ca.certificate, store });

describe('createDeviceVerifier', () => {
  it('remembers a verified certificate yet checks revocation and validity on every call', async () => {
    let at = new Date();
    const one = createDeviceVerifier({ deviceCaCert: ca.certificate, store, now: () => at });
    const { der, certificate } = await issueTestCertificate(signerOf(ca), { deviceId: 11n });
    expect(await one(der)).toMatchObject({ deviceId: '11' });
    // A second call on the same verifier (the remembered path) sees the revocation.
    expect(await one(der)).toMatchObject({ deviceId: '11' });
    await markDeviceRevoked(store, certificate.serialNumber, certificate.notAfter);
    expect(await one(der)).toBeUndefined();

    const fresh = await issueTestCertificate(signerOf(ca), { deviceId: 12n });
    expect(await one(fresh.der)).toMatchObject({ deviceId: '12' });
    at = new Date(fresh.certificate.notAfter.getTime() + 1000);
    expect(await one(fresh.der)).toBeUndefined();
  });

  it('with revocationCacheMs, reads the revocation state at most once per bound, and at once after a fact about the device', async () => {
    let at = new Date();
    let reads = 0;
    const counting: Store = { ...store, get: (key) => (reads++, store.get(key)) };
    const cached = createDeviceVerifier({ deviceCaCert: ca.certificate, store: counting, now: () => at, revocationCacheMs: 1_000 });
    const a = await issueTestCertificate(signerOf(ca), { deviceId: 31n });
    const b = await issueTestCertificate(signerOf(ca), { deviceId: 32n });
    expect(await cached(a.der)).toMatchObject({ deviceId: '31' });
    expect(await cached(a.der)).toMatchObject({ deviceId: '31' });
    expect(reads).toBe(1);
    // Revoked with no fact (announcement lost): refused once the bound has passed.
    await markDeviceRevoked(store, a.certificate.serialNumber, a.certificate.notAfter);
    at = new Date(at.getTime() + 999);
    expect(await cached(a.der)).toBeDefined();
    at = new Date(at.getTime() + 1);
    expect(await cached(a.der)).toBeUndefined();
    // Announced: refused on the next call, and only that device is asked again.
    expect(await cached(b.der)).toMatchObject({ deviceId: '32' });
    await cached(a.der).catch(() => undefined);
    await markDeviceRevoked(store, b.certificate.serialNumber, b.certificate.notAfter);
    cached.onRevocationFact({ kind: 'device', deviceId: '32' });
    expect(await cached(b.der)).toBeUndefined();
    // A refusal is never remembered as "not revoked", and a gap forgets everything.
    const c = await issueTestCertificate(signerOf(ca), { deviceId: 33n });
    expect(await cached(c.der)).toBeDefined();
    const before = reads;
    cached.onRevocationFact('gap');
    expect(await cached(c.der)).toBeDefined();
    expect(reads).toBe(before + 1);
  });

  it('keeps at most cacheSize certificates and still verifies the ones it forgot', async () => {
    const small = createDeviceVerifier({ deviceCaCert: ca.certificate, store, cacheSize: 1 });
    const a = await issueTestCertificate(signerOf(ca), { deviceId: 21n });
    const b = await issueTestCertificate(signerOf(ca), { deviceId: 22n });
    expect(await small(a.der)).toMatchObject({ deviceId: '21' });
    expect(await small(b.der)).toMatchObject({ deviceId: '22' });
    expect(await small(a.der)).toMatchObject({ deviceId: '21' });
  });

  it('accepts a certificate from the device CA and returns the device id it names', async () => {
    const { der, certificate } = await issueTestCertificate(signerOf(ca), { deviceId: 9_007_199_254_740_993n });
    const device = await verifier()(der);
    expect(device).toMatchObject({ deviceId: '9007199254740993', serial: certificate.serialNumber.toLowerCase() });
    expect(device?.certificateDer).toBe(der);
  });

  it('refuses a certificate from another CA even with the same subject names', async () => {
    const { der } = await issueTestCertificate(signerOf(otherCa));
    expect(await verifier()(der)).toBeUndefined();
  });

  it('refuses a certificate that claims our CA as issuer but is signed by another key', async () => {
    const { der } = await issueTestCertificate({ ...signerOf(otherCa), issuer: ca.certificate.subject });
    expect(await verifier()(der)).toBeUndefined();
  });

  it('refuses a self-signed device certificate', async () => {
    const keys = await deviceKeyPair();
    const names = deviceCertificateNames(42n);
    const selfSigned = await x509.X509CertificateGenerator.createSelfSigned({
      name: names.subject,
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + DAY_MS),
      extensions: [
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: names.uri }]),
      ],
    });
    expect(await verifier()(new Uint8Array(selfSigned.rawData))).toBeUndefined();
  });

  it('refuses an expired and a not-yet-valid certificate', async () => {
    const now = Date.now();
    const expired = await issueTestCertificate(signerOf(ca), { notBefore: new Date(now - 10 * DAY_MS), notAfter: new Date(now - DAY_MS) });
    const future = await issueTestCertificate(signerOf(ca), { notBefore: new Date(now + DAY_MS), notAfter: new Date(now + 10 * DAY_MS) });
    expect(await verifier()(expired.der)).toBeUndefined();
    expect(await verifier()(future.der)).toBeUndefined();
  });

  it('refuses a CA certificate, one without clientAuth, and garbage', async () => {
    const asCa = await issueTestCertificate(signerOf(ca), { isCa: true });
    const serverOnly = await issueTestCertificate(signerOf(ca), { usages: [x509.ExtendedKeyUsage.serverAuth] });
    expect(await verifier()(asCa.der)).toBeUndefined();
    expect(await verifier()(serverOnly.der)).toBeUndefined();
    expect(await verifier()(new Uint8Array(ca.certificate.rawData))).toBeUndefined();
    expect(await verifier()(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]))).toBeUndefined();
  });

  it('refuses a certificate that names no device, two devices, or disagrees between CN and SAN', async () => {
    const cases = [
      { sanUris: [] },
      { sanUris: [`${DEVICE_URI_PREFIX}42`, `${DEVICE_URI_PREFIX}43`] },
      { subject: 'CN=device-43', sanUris: [`${DEVICE_URI_PREFIX}42`] },
      { subject: 'CN=device-042', sanUris: [`${DEVICE_URI_PREFIX}042`] },
      { subject: 'CN=device-18446744073709551616', sanUris: [`${DEVICE_URI_PREFIX}18446744073709551616`] },
    ];
    for (const options of cases) {
      const { der } = await issueTestCertificate(signerOf(ca), options);
      expect(await verifier()(der), JSON.stringify(options)).toBeUndefined();
    }
  });

  it('refuses a revoked certificate and still accepts another device', async () => {
    const revoked = await issueTestCertificate(signerOf(ca), { deviceId: 7n });
    const other = await issueTestCertificate(signerOf(ca), { deviceId: 8n });
    expect(await verifier()(revoked.der)).toBeDefined();
    expect(await markDeviceRevoked(store, revoked.certificate.serialNumber, revoked.certificate.notAfter)).toBe(true);
    expect(await verifier()(revoked.der)).toBeUndefined();
    expect((await verifier()(other.der))?.deviceId).toBe('8');
  });

  it('fails closed when the store cannot answer', async () => {
    const closed = createMemoryStore();
    await closed.close();
    const { der } = await issueTestCertificate(signerOf(ca));
    const verify = createDeviceVerifier({ deviceCaCert: ca.certificate, store: closed });
    const outcome = await verify(der).then(
      () => 'resolved',
      (err: unknown) => (isStoreUnavailableError(err) ? 'store-unavailable' : 'other error'),
    );
    expect(outcome).toBe('store-unavailable');
  });
});

describe('markDeviceRevoked', () => {
  it('keeps the mark until past notAfter and skips certificates long expired', async () => {
    const now = new Date();
    const serial = 'ABCDEF0123';
    expect(await markDeviceRevoked(store, serial, new Date(now.getTime() + DAY_MS), now)).toBe(true);
    expect(await isDeviceRevoked(store, 'abcdef0123')).toBe(true);
    const ttl = await store.ttlMs(revokedDeviceKey(serial));
    expect(ttl).toBeGreaterThan(DAY_MS);
    expect(ttl).toBeLessThanOrEqual(2 * DAY_MS);
    expect(await markDeviceRevoked(store, 'ab12', new Date(now.getTime() - 3 * DAY_MS), now)).toBe(false);
    expect(await isDeviceRevoked(store, 'ab12')).toBe(false);
  });

  it('rejects a serial that is not hex instead of writing a key for it', async () => {
    await expect(markDeviceRevoked(store, 'zz:12', new Date(Date.now() + DAY_MS))).rejects.toThrow(RangeError);
  });
});

describe('loading the device CA', () => {
  it('refuses a certificate that is not a CA', async () => {
    const leaf = await issueTestCertificate(signerOf(ca));
    const file = join(dir, 'leaf.pem');
    await writeFile(file, leaf.certificate.toString('pem'));
    await expect(loadDeviceCa({ certFile: file, keyFile: file })).rejects.toThrow(DeviceCaError);
  });

  it('refuses a key that does not belong to the CA certificate', async () => {
    const other = join(dir, 'b', 'device-ca.key');
    await expect(loadDeviceCaSigner({ certificate: ca.certificate, keyFile: other })).rejects.toThrow(/does not belong/);
  });

  it('refuses a key file that is not PKCS#8', async () => {
    const file = join(dir, 'sec1.key');
    const pkcs8 = await readFile(join(dir, 'a', 'device-ca.key'), 'utf8');
    await writeFile(file, pkcs8.replaceAll('PRIVATE KEY', 'EC PRIVATE KEY'));
    await expect(loadDeviceCaSigner({ certificate: ca.certificate, keyFile: file })).rejects.toThrow(/PKCS#8/);
  });
});
