// The edge listener: a phone's client certificate forwarded by the edge (nginx, Envoy, HAProxy)
// in a header is trusted only on a connection authenticated as the edge, and then goes through
// the same device checks as a certificate presented directly (issue 13, item 1).
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDeviceCa, loadDeviceCaSigner, markDeviceRevoked, publishRevocationFact, type DeviceCaSigner } from '@kfrm/device-trust';
import { issueTestCertificate } from '@kfrm/device-trust/testing/certificates.fixtures';
import { createCapturingDestination } from '@kfrm/logging';
import { ensureDevInternalPki, privateKeyToPem, type InternalPkiFiles } from '@kfrm/pki';
import { E2eTestServiceClient, E2eTestServiceService } from '@kfrm/proto/gen/kfrm/api/e2e/e2e_test';
import { defineService } from '@kfrm/server-kit';
import type { ServiceModule } from './service-module';
import { startTestServices, type TestServices } from './testing/services.harness';

/** Answers a device-level call with the device id the guard saw, so a test sees whose certificate counted. */
const whoAmIModule: ServiceModule = {
  name: 'who-am-i',
  create: () => ({
    mobile: [
      defineService(
        E2eTestServiceService,
        {
          encryptText: async (_req, ctx) => ({ encryptedText: ctx.principal.device?.deviceId ?? '' }),
          decryptText: async () => ({ plainText: 'public' }),
        },
        { encryptText: { access: 'device' }, decryptText: { access: 'public' } },
      ),
    ],
  }),
};

interface Pem {
  cert: string;
  key: string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function whoAmI(client: E2eTestServiceClient, headers: Record<string, string | string[]> = {}): Promise<string> {
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(headers)) for (const v of [value].flat()) metadata.add(name, v);
  return new Promise((resolve, reject) =>
    client.encryptText({ plainText: 'x', provider: 1, sessionId: 's' }, metadata, { deadline: Date.now() + 5_000 }, (err, res) =>
      err ? reject(err) : resolve(res!.encryptedText),
    ),
  );
}

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (err: grpc.ServiceError) => grpc.status[err.code],
  );

describe('edge listener (KFRM_EDGE_LISTEN)', () => {
  const logs = createCapturingDestination();
  let services: TestServices;
  let pki: InternalPkiFiles;
  let deviceCa: DeviceCaSigner;
  let internalCaPem: Buffer;
  let device: Pem & { serial: string; notAfter: Date; der: Uint8Array };
  let edgePort: number;
  const clients: E2eTestServiceClient[] = [];

  const edgeClient = (identity: Pem) => {
    const client = new E2eTestServiceClient(
      `127.0.0.1:${edgePort}`,
      grpc.credentials.createSsl(internalCaPem, Buffer.from(identity.key), Buffer.from(identity.cert)),
    );
    clients.push(client);
    return client;
  };
  const pemOf = async (files: { certFile: string; keyFile: string }): Promise<Pem> => ({
    cert: await readFile(files.certFile, 'utf8'),
    key: await readFile(files.keyFile, 'utf8'),
  });
  const issueDevice = async (deviceId: bigint) => {
    const issued = await issueTestCertificate({ ...deviceCa, issuer: deviceCa.certificate.subject }, { deviceId });
    return {
      cert: issued.certificate.toString('pem'),
      key: await privateKeyToPem(issued.keys.privateKey),
      serial: issued.certificate.serialNumber,
      notAfter: issued.certificate.notAfter,
      der: issued.der,
    };
  };

  beforeAll(async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const secrets = await mkdtemp(join(tmpdir(), 'kfrm-edge-pki-'));
    pki = await ensureDevInternalPki(secrets, ['who-am-i', 'other']);
    internalCaPem = await readFile(pki.internalCaCertFile);
    edgePort = await freePort();
    services = await startTestServices([whoAmIModule], {
      name: 'edge-listener',
      logDestination: logs,
      env: {
        KFRM_EDGE_LISTEN: `127.0.0.1:${edgePort}`,
        KFRM_INTERNAL_TLS_CERT_FILE: pki.services['who-am-i']!.certFile,
        KFRM_INTERNAL_TLS_KEY_FILE: pki.services['who-am-i']!.keyFile,
        KFRM_INTERNAL_CA_CERT_FILE: pki.internalCaCertFile,
      },
    });
    const { deviceCaCertFile, deviceCaKeyFile } = services.running;
    deviceCa = await loadDeviceCaSigner(await loadDeviceCa({ certFile: deviceCaCertFile, keyFile: deviceCaKeyFile }));
    device = await issueDevice(42n);
  }, 60_000);

  afterAll(async () => {
    for (const client of clients) client.close();
    await services?.close();
  });

  it('accepts a device certificate forwarded by the edge in each of the three header forms', async () => {
    const edge = edgeClient(await pemOf(pki.edge));
    expect(await whoAmI(edge, { 'ssl-client-cert': encodeURIComponent(device.cert) })).toBe('42');
    expect(await whoAmI(edge, { 'x-forwarded-client-cert': `Hash=abc;Cert="${encodeURIComponent(device.cert)}";URI=x` })).toBe('42');
    expect(await whoAmI(edge, { 'x-ssl-client-der': Buffer.from(device.der).toString('base64') })).toBe('42');
    // No forwarded certificate: the phone sent none, so device methods are refused as today.
    expect(await refusal(whoAmI(edge))).toBe('UNAUTHENTICATED');
  });

  it('refuses two forwarded headers, a repeated one and an unparsable one, never falling back', async () => {
    const edge = edgeClient(await pemOf(pki.edge));
    const other = await issueDevice(43n);
    const escaped = encodeURIComponent(device.cert);
    const der = Buffer.from(device.der).toString('base64');
    expect(await refusal(whoAmI(edge, { 'ssl-client-cert': escaped, 'x-ssl-client-der': der }))).toBe('UNAUTHENTICATED');
    expect(await refusal(whoAmI(edge, { 'ssl-client-cert': [escaped, encodeURIComponent(other.cert)] }))).toBe('UNAUTHENTICATED');
    expect(await refusal(whoAmI(edge, { 'ssl-client-cert': 'not%20a%20certificate' }))).toBe('UNAUTHENTICATED');
    expect(await refusal(whoAmI(edge, { 'ssl-client-cert': encodeURIComponent(device.cert + other.cert) }))).toBe('UNAUTHENTICATED');
    expect(await refusal(whoAmI(edge, { 'x-ssl-client-der': 'AAAA' }))).toBe('UNAUTHENTICATED');
    expect(await refusal(whoAmI(edge, { 'x-forwarded-client-cert': `Cert="${escaped}",Cert="${escaped}"` }))).toBe('UNAUTHENTICATED');
    expect(await refusal(whoAmI(edge, { 'x-forwarded-client-cert': 'Hash=abc' }))).toBe('UNAUTHENTICATED');
  });

  it('refuses a forwarded certificate from a peer that is not the edge, and a forged header sent straight to the mobile listener', async () => {
    // Another service's internal certificate: from the internal CA, but not the edge.
    const impostor = edgeClient(await pemOf(pki.services.other!));
    expect(await refusal(whoAmI(impostor, { 'ssl-client-cert': encodeURIComponent(device.cert) }))).toBe('UNAUTHENTICATED');

    const serverCa = services.serverCaPem;
    const bare = new E2eTestServiceClient(services.mobileAddress, grpc.credentials.createSsl(serverCa));
    clients.push(bare);
    expect(await refusal(whoAmI(bare, { 'ssl-client-cert': encodeURIComponent(device.cert) }))).toBe('UNAUTHENTICATED');
    // Even with a valid certificate of its own, a header on a direct connection is refused.
    const other = await issueDevice(44n);
    const direct = new E2eTestServiceClient(
      services.mobileAddress,
      grpc.credentials.createSsl(serverCa, Buffer.from(other.key), Buffer.from(other.cert)),
    );
    clients.push(direct);
    expect(await whoAmI(direct)).toBe('44');
    expect(await refusal(whoAmI(direct, { 'x-ssl-client-der': Buffer.from(device.der).toString('base64') }))).toBe('UNAUTHENTICATED');

    const lines = logs.lines.map((l) => JSON.parse(l) as { msg: string; code?: string; reason?: string });
    const rejected = lines.filter((l) => l.msg === 'call rejected' && /forwarded/.test(l.reason ?? ''));
    expect(rejected.length).toBeGreaterThanOrEqual(3);
    // Never the certificate itself in a log line.
    const body = device.cert.split('\n')[1]!;
    expect(logs.text()).not.toContain(body);
    expect(logs.text()).not.toContain(encodeURIComponent(device.cert).slice(40, 80));
  });

  it('refuses a connection to the edge listener without an internal-CA client certificate', async () => {
    const anonymous = new E2eTestServiceClient(`127.0.0.1:${edgePort}`, grpc.credentials.createSsl(internalCaPem));
    clients.push(anonymous);
    expect(await refusal(whoAmI(anonymous, { 'ssl-client-cert': encodeURIComponent(device.cert) }))).toBe('UNAVAILABLE');
    const phone = new E2eTestServiceClient(
      `127.0.0.1:${edgePort}`,
      grpc.credentials.createSsl(internalCaPem, Buffer.from(device.key), Buffer.from(device.cert)),
    );
    clients.push(phone);
    expect(await refusal(whoAmI(phone))).toBe('UNAVAILABLE');
  });

  it("refuses a revoked device's forwarded certificate", async () => {
    const edge = edgeClient(await pemOf(pki.edge));
    const revoked = await issueDevice(45n);
    expect(await whoAmI(edge, { 'ssl-client-cert': encodeURIComponent(revoked.cert) })).toBe('45');
    // As the device service revokes: the store mark, then the fact (its own process hears it at once).
    await markDeviceRevoked(services.store, revoked.serial, revoked.notAfter);
    await publishRevocationFact(services.running.store, { kind: 'device', deviceId: '45' }, services.running.logger);
    expect(await refusal(whoAmI(edge, { 'ssl-client-cert': encodeURIComponent(revoked.cert) }))).toBe('UNAUTHENTICATED');
  });
});

describe('KFRM_MOBILE_LISTEN=off', () => {
  it('serves on the edge listener only', async () => {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const pki = await ensureDevInternalPki(await mkdtemp(join(tmpdir(), 'kfrm-edge-pki-')), ['who-am-i']);
    const edgePort = await freePort();
    const services = await startTestServices([whoAmIModule], {
      name: 'edge-only',
      logDestination: createCapturingDestination(),
      env: {
        KFRM_MOBILE_LISTEN: 'off',
        KFRM_EDGE_LISTEN: `127.0.0.1:${edgePort}`,
        KFRM_INTERNAL_TLS_CERT_FILE: pki.services['who-am-i']!.certFile,
        KFRM_INTERNAL_TLS_KEY_FILE: pki.services['who-am-i']!.keyFile,
        KFRM_INTERNAL_CA_CERT_FILE: pki.internalCaCertFile,
      },
    });
    try {
      expect(() => services.running.mobilePort).toThrow('KFRM_MOBILE_LISTEN=off');
      expect(services.running.edgePort).toBe(edgePort);
      const edge = new E2eTestServiceClient(
        `127.0.0.1:${edgePort}`,
        grpc.credentials.createSsl(
          await readFile(pki.internalCaCertFile),
          await readFile(pki.edge.keyFile),
          await readFile(pki.edge.certFile),
        ),
      );
      const answer = await new Promise<string>((resolve, reject) =>
        edge.decryptText({ encryptedMessage: undefined }, (err, res) => (err ? reject(err) : resolve(res!.plainText))),
      );
      edge.close();
      expect(answer).toBe('public');
    } finally {
      await services.close();
    }
  }, 60_000);
});
