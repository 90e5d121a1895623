// The split run behind Debian's nginx, as `pnpm start:split` makes it (issue 13, item 6): every
// service in its own process (compiled bundles), the phones' calls through the edge, the
// operator's through the edge's operator address. On a fresh PostgreSQL database and a
// redis-server of its own; skipped, with the reason printed, where nginx is not installable.
import { findDemoOperators } from '../../packages/demo/src/operator-credentials';
import { mintLocalOperatorToken } from '@kfrm/runtime';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppClient } from '@kfrm/app-client';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { privateKeyToPem, webcrypto, x509 } from '@kfrm/pki';
import { E2eTestServiceClient } from '@kfrm/proto/gen/kfrm/api/e2e/e2e_test';
import { runDemo, STEP_COUNT } from '../../packages/demo/src/demo';
import { NotificationWatcher, setUpPhone, TransferLoad, type Phone } from '../fault/lib/bank-load';
import { freePort, sleep, waitFor } from '../fault/lib/free-port';
import { canRunPrivateRedis, startPrivateRedis, type PrivateRedis } from '../fault/lib/private-redis';

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const BUF = join(repo, 'node_modules/.bin/buf');
const run = promisify(execFile);
/** The silence nginx's default 60 s grpc_read_timeout would end a notification stream in. */
const SILENCE_MS = 90_000;

interface Ready {
  edge: string;
  operator: string;
  serverCaCertFile: string;
  internalCaCertFile: string;
  edgeCertFile: string;
  edgeKeyFile: string;
  services: Record<string, { pid: number; internalPort: number; edgePort: number; metricsPort: number }>;
}

function whyNot(): string | undefined {
  if (!process.env.DATABASE_URL) return 'DATABASE_URL is not set (a split run is real mode)';
  if (!canRunPrivateRedis()) return 'redis-server is not installed';
  const hasNginx = spawnSync('sh', ['-c', 'command -v nginx || test -x /usr/sbin/nginx']).status === 0;
  if (!hasNginx && process.getuid?.() !== 0) return 'nginx is not installed and cannot be installed (not root)';
  return undefined;
}
const skipReason = whyNot();
if (skipReason) console.warn(`tests/edge/split-edge.test.ts skipped: ${skipReason}`);

const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => 'accepted',
    (err: grpc.ServiceError) => grpc.status[err.code] ?? String(err),
  );

function encryptText(client: E2eTestServiceClient, headers: Record<string, string> = {}): Promise<unknown> {
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
  return new Promise((ok, fail) =>
    client.encryptText({ plainText: 'x', provider: 1, sessionId: 's' }, metadata, { deadline: Date.now() + 10_000 }, (err, res) =>
      err ? fail(err) : ok(res),
    ),
  );
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const accepts = (address: string) =>
  new Promise<boolean>((ok) => {
    const [host, port] = [address.slice(0, address.lastIndexOf(':')), Number(address.slice(address.lastIndexOf(':') + 1))];
    const socket = connect(port, host);
    socket.once('connect', () => {
      socket.destroy();
      ok(true);
    });
    socket.once('error', () => ok(false));
  });

describe.skipIf(skipReason !== undefined)('split services behind nginx (pnpm start:split)', () => {
  let dir: string;
  // start:split's local operator issuer in its data directory (teller and KYC reviewer for setUpPhone).
  const splitOperatorToken = () =>
    mintLocalOperatorToken(join(dir, 'data', 'operator-issuer'), { roles: ['teller', 'kyc-reviewer'], subject: 'split-test' });
  let redis: PrivateRedis;
  let database: TestDatabase;
  let runner: ChildProcess;
  let runnerLog = '';
  let ready: Ready;
  let serverCaPem: Buffer;
  let silent: Phone;
  let watcher: NotificationWatcher;
  let silenceFrom = 0;
  const phones: Phone[] = [];
  const clients: grpc.Client[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kfrm-split-'));
    [redis, database] = await Promise.all([startPrivateRedis(), openTestDatabase({ backend: 'postgres', poolMax: 1 })]);
    const [edgePort, operatorPort] = [await freePort(), await freePort()];
    runner = spawn(process.execPath, ['--import', 'tsx', join(repo, 'scripts/start-split.ts')], {
      cwd: repo,
      env: {
        ...process.env,
        DATABASE_URL: database.databaseUrl,
        REDIS_URL: redis.url,
        KFRM_DATA_DIR: join(dir, 'data'),
        KFRM_MOBILE_LISTEN: `127.0.0.1:${edgePort}`,
        KFRM_INTERNAL_LISTEN: `127.0.0.1:${operatorPort}`,
        // The kill/restart journey makes many PIN checks on few devices.
        KFRM_AUTH_SECRET_CHECKS_PER_DEVICE_WINDOW: '1000000',
        KFRM_SHUTDOWN_GRACE_MS: '1000',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    runner.stderr!.on('data', (chunk: Buffer) => {
      runnerLog += chunk.toString();
    });
    ready = await new Promise<Ready>((ok, fail) => {
      let out = '';
      runner.stdout!.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = /^start:split ready (.*)$/m.exec(out);
        if (line) ok(JSON.parse(line[1]!) as Ready);
      });
      runner.once('exit', (code) => fail(new Error(`start:split exited (${code}) before it was ready:\n${runnerLog.slice(-4000)}`)));
    });
    serverCaPem = readFileSync(ready.serverCaCertFile);
  }, 180_000);

  afterAll(async () => {
    watcher?.close();
    for (const phone of phones) phone.app.close();
    silent?.app.close();
    for (const client of clients) client.close();
    if (runner && runner.exitCode === null && runner.signalCode === null) {
      const exited = new Promise((ok) => runner.once('exit', ok));
      runner.kill('SIGTERM');
      await exited;
    }
    await database?.close();
    await redis?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('answers grpc.health.v1 through buf curl on the edge, the operator address and each service', async () => {
    const health = '/grpc.health.v1.Health/Check';
    const edge = await run(BUF, ['curl', '--protocol', 'grpc', '--cacert', ready.serverCaCertFile, `https://${ready.edge}${health}`]);
    expect(JSON.parse(edge.stdout)).toEqual({ status: 'SERVING' });
    const operator = await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', `http://${ready.operator}${health}`]);
    expect(JSON.parse(operator.stdout)).toEqual({ status: 'SERVING' });
    for (const [service, ports] of Object.entries(ready.services)) {
      // The internal listeners take mTLS from the internal CA; health asks no client certificate.
      const internal = await run(BUF, [
        'curl',
        '--protocol',
        'grpc',
        '--cacert',
        ready.internalCaCertFile,
        `https://127.0.0.1:${ports.internalPort}${health}`,
      ]);
      expect(JSON.parse(internal.stdout), service).toEqual({ status: 'SERVING' });
      const tls = ['--cacert', ready.internalCaCertFile, '--cert', ready.edgeCertFile, '--key', ready.edgeKeyFile];
      const edgeListener = await run(BUF, ['curl', '--protocol', 'grpc', ...tls, `https://127.0.0.1:${ports.edgePort}${health}`]);
      expect(JSON.parse(edgeListener.stdout), service).toEqual({ status: 'SERVING' });
    }
    // Reflection through the edge answers for every service behind it, never an internal one.
    const listed = (
      await run(BUF, ['curl', '--protocol', 'grpc', '--cacert', ready.serverCaCertFile, '--list-services', `https://${ready.edge}`])
    ).stdout
      .trim()
      .split('\n');
    expect(listed).toEqual(
      expect.arrayContaining(['kfrm.api.transfer.TransferService', 'kfrm.api.key.KeyService', 'grpc.health.v1.Health']),
    );
    expect(listed).not.toContain('kfrm.api.account.LedgerService');
    const operatorListed = (
      await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-services', `http://${ready.operator}`])
    ).stdout;
    expect(operatorListed).toContain('kfrm.api.account.LedgerService');
    expect(operatorListed).toContain('kfrm.api.user.UserAccountService');
  }, 60_000);

  it('opens a notification stream through the edge, to be checked after 90 s of silence', async () => {
    silent = await setUpPhone(90, ready.edge, serverCaPem, ready.operator, await splitOperatorToken());
    watcher = new NotificationWatcher(silent);
    watcher.open();
    silenceFrom = Date.now();
  }, 60_000);

  it(`runs the demo journey through the edge: all ${STEP_COUNT} steps, operator steps on the one operator address`, async () => {
    let printed = '';
    const result = await runDemo(
      {
        address: ready.edge,
        internalAddress: ready.operator,
        serverCaPem,
        depositKrw: 3_000_000n,
        transferKrw: 1_200_000n,
        notificationTimeoutMs: 15_000,
        // start:split's local operator issuer, found from the CA's data directory as `pnpm demo` does.
        operators: await findDemoOperators({ caFile: join(dir, 'data', 'tls', 'server-ca.pem') }, { KFRM_DATA_DIR: join(dir, 'data') }),
        interactive: false,
      },
      { write: (text: string) => (printed += text) },
    );
    expect(result.failed, printed.slice(-3000)).toBeUndefined();
    expect(result.steps).toHaveLength(STEP_COUNT);
    expect(result.ok).toBe(true);
  }, 90_000);

  it('refuses a forged certificate header, through the edge and sent straight to a service', async () => {
    const phone = new AppClient({ address: ready.edge, serverCaPem });
    const device = await phone.registerDevice();
    const genuine = phone.client(E2eTestServiceClient);
    // The device itself passes the certificate check (E2eTestService is then off in real mode).
    expect(await refusal(encryptText(genuine))).toBe('PERMISSION_DENIED');
    phone.close();

    // A client without a certificate claiming that device's in each forwarded header: nginx
    // overwrites or drops them, so the service sees no certificate at all.
    const bare = new E2eTestServiceClient(ready.edge, grpc.credentials.createSsl(serverCaPem));
    clients.push(bare);
    const forged = {
      'ssl-client-cert': encodeURIComponent(device.certificatePem),
      'x-forwarded-client-cert': `Cert="${encodeURIComponent(device.certificatePem)}"`,
      'x-ssl-client-der': Buffer.from(device.certificateDer).toString('base64'),
    };
    for (const [name, value] of Object.entries(forged))
      expect(await refusal(encryptText(bare, { [name]: value })), name).toBe('UNAUTHENTICATED');

    // A client certificate nginx takes (optional_no_ca) but the services do not: self-signed,
    // naming the same device. The same answer as on a direct listener.
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as import('node:crypto').webcrypto.CryptoKeyPair;
    const own = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: new x509.X509Certificate(device.certificatePem).subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      keys,
      extensions: [new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth])],
    });
    const selfSigned = new E2eTestServiceClient(
      ready.edge,
      grpc.credentials.createSsl(serverCaPem, Buffer.from(await privateKeyToPem(keys.privateKey)), Buffer.from(own.toString('pem'))),
    );
    clients.push(selfSigned);
    expect(await refusal(encryptText(selfSigned))).toBe('UNAUTHENTICATED');

    // Straight to the e2e-key service's edge listener: without an internal-CA certificate there
    // is no connection; with another service's, the header is refused.
    const target = `127.0.0.1:${ready.services['e2e-key']!.edgePort}`;
    const internalCa = readFileSync(ready.internalCaCertFile);
    const anonymous = new E2eTestServiceClient(target, grpc.credentials.createSsl(internalCa));
    clients.push(anonymous);
    expect(await refusal(encryptText(anonymous, forged))).toBe('UNAVAILABLE');
    const secrets = join(dir, 'data/split/secrets');
    const impostor = new E2eTestServiceClient(
      target,
      grpc.credentials.createSsl(
        internalCa,
        readFileSync(join(secrets, 'internal-user.key')),
        readFileSync(join(secrets, 'internal-user.pem')),
      ),
    );
    clients.push(impostor);
    expect(await refusal(encryptText(impostor, { 'ssl-client-cert': forged['ssl-client-cert'] }))).toBe('UNAUTHENTICATED');
  }, 60_000);

  it('takes a service identity only from the caller’s internal certificate, never from a header (issue 16 item 1)', async () => {
    const { LedgerServiceClient } = await import('@kfrm/proto/gen/kfrm/api/account/ledger_internal');
    const target = `127.0.0.1:${ready.services.account!.internalPort}`;
    const internalCa = readFileSync(ready.internalCaCertFile);
    const secrets = join(dir, 'data/split/secrets');
    const as = (service: string) =>
      grpc.credentials.createSsl(
        internalCa,
        readFileSync(join(secrets, `internal-${service}.key`)),
        readFileSync(join(secrets, `internal-${service}.pem`)),
      );
    const lookup = (credentials: grpc.ChannelCredentials, headers: Record<string, string> = {}) => {
      const ledger = new LedgerServiceClient(target, credentials);
      clients.push(ledger);
      const metadata = new grpc.Metadata();
      for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
      return new Promise<string>((resolve) =>
        ledger.getAccountForOwner({ ownerUserId: '1', accountNumber: '3333-00000000000' }, metadata, (err) =>
          resolve(err ? grpc.status[err.code] : 'OK'),
        ),
      );
    };
    // Plaintext: no connection at all.
    expect(await lookup(grpc.credentials.createInsecure(), { 'x-kfrm-caller-service': 'transfer' })).toBe('UNAVAILABLE');
    // TLS without a certificate, claiming to be the transfer service in the header: nobody.
    expect(await lookup(grpc.credentials.createSsl(internalCa), { 'x-kfrm-caller-service': 'transfer' })).toBe('UNAUTHENTICATED');
    // The edge's certificate names no service either.
    const edge = grpc.credentials.createSsl(internalCa, readFileSync(ready.edgeKeyFile), readFileSync(ready.edgeCertFile));
    expect(await lookup(edge, { 'x-kfrm-caller-service': 'transfer' })).toBe('UNAUTHENTICATED');
    // A service certificate GetAccountForOwner does not name, whatever the header says.
    expect(await lookup(as('casa'), { 'x-kfrm-caller-service': 'transfer' })).toBe('PERMISSION_DENIED');
    // The transfer service's own certificate: served (no such account).
    expect(await lookup(as('transfer'))).toBe('NOT_FOUND');
  }, 60_000);

  it('keeps transferring while the transfer service is killed and started again (the phones retry)', async () => {
    const operatorToken = await splitOperatorToken();
    phones.push(...(await Promise.all([1, 2].map((i) => setUpPhone(i, ready.edge, serverCaPem, ready.operator, operatorToken)))));
    const load = new TransferLoad(phones, { executeGiveUpMs: 60_000, pauseMs: 200 });
    load.start();
    try {
      await waitFor('a transfer before the kill', 30_000, () => load.outcomes.find((o) => o.answer === 'OK'));
      const victim = ready.services.transfer!.pid;
      const killedAt = performance.now();
      process.kill(victim, 'SIGKILL');
      await waitFor('transfer started again', 30_000, () =>
        /transfer exited \(SIGKILL\); starting it again/.test(runnerLog) ? true : undefined,
      );
      const after = await waitFor('a transfer after the restart', 60_000, () => load.firstSuccessAfter(killedAt));
      expect(after.answer).toBe('OK');
    } finally {
      await load.stop();
    }
    expect(load.unresolved).toEqual([]);
    // Every final answer a phone took was a success: nothing was refused for the restart.
    expect(load.outcomes.filter((o) => o.answer !== 'OK')).toEqual([]);
  }, 150_000);

  it(
    'kept the notification stream open across 90 s of silence, and it still delivers',
    async () => {
      const left = silenceFrom + SILENCE_MS - Date.now();
      if (left > 0) await sleep(left);
      expect(watcher.ends).toEqual([]);
      const before = watcher.received.length;
      // One transfer from the silent phone: its own notification arrives on the same stream.
      const load = new TransferLoad([silent, phones[0]!], { executeGiveUpMs: 30_000, pauseMs: 200 });
      load.start();
      try {
        await waitFor('a notification on the stream held open', 30_000, () => (watcher.received.length > before ? true : undefined));
      } finally {
        await load.stop();
      }
      expect(watcher.ends).toEqual([]);
    },
    SILENCE_MS + 60_000,
  );

  it('stops nginx and every service on SIGINT and exits 0', async () => {
    const pids = Object.values(ready.services).map((s) => s.pid);
    const exited = new Promise<number | null>((ok) => runner.once('exit', (code) => ok(code)));
    runner.kill('SIGINT');
    expect(await exited).toBe(0);
    // The killed transfer was replaced by a new process: check the edge and the originals are gone.
    expect(pids.filter(alive)).toEqual([]);
    expect(await accepts(ready.edge)).toBe(false);
    expect(await accepts(ready.operator)).toBe(false);
    for (const [service, ports] of Object.entries(ready.services)) {
      expect(await accepts(`127.0.0.1:${ports.internalPort}`), service).toBe(false);
    }
  }, 30_000);
});
