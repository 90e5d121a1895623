import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureDevInternalPki } from '@kfrm/pki';
import { ensureDevSecrets } from './dev-certs';
import { COMPOSE_EDGE_CONFIG, composeEdgeConfig, REFLECTION_LIST_FILES, renderNginxConfig, withReflectionLists } from './edge-config';
import { deriveServiceRoutes, internalTargetsEnv, type ServiceRoutes } from './edge-routes';

const nginx = spawnSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx'], { encoding: 'utf8' }).stdout.trim().split('\n')[0];

describe('edge routes and nginx config', () => {
  let routes: ServiceRoutes[];
  const dir = mkdtempSync(join(tmpdir(), 'kfrm-edge-config-'));
  beforeAll(async () => {
    routes = await deriveServiceRoutes();
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('finds each gRPC service in the module that serves it, phone-facing apart from internal', () => {
    const owner = (name: string) => routes.find((r) => r.mobile.includes(name) || r.internal.includes(name))?.service;
    expect(owner('kfrm.api.transfer.TransferService')).toBe('transfer');
    expect(owner('kfrm.api.appversion.AppVersionService')).toBe('auth');
    // The user service's one phone-facing service; its session and process APIs stay internal.
    expect(routes.find((r) => r.service === 'user')!.mobile).toEqual(['kfrm.api.user.MembershipService']);
    expect(routes.find((r) => r.service === 'account')!.internal).toEqual(['kfrm.api.account.LedgerService']);
    const env = internalTargetsEnv(routes, (service) => `${service}:50052`);
    expect(env).toMatchObject({ KFRM_INTERNAL_TARGET_USER: 'user:50052', KFRM_INTERNAL_TARGET_ACCOUNT: 'account:50052' });
  });

  it('has the committed compose config current (scripts/edge-config.ts --check)', () => {
    expect(readFileSync(COMPOSE_EDGE_CONFIG, 'utf8')).toBe(composeEdgeConfig(routes));
  });

  it('has the reflection lists in compose and Kubernetes current, and rewrites stale ones', () => {
    const repo = join(COMPOSE_EDGE_CONFIG, '../../../..');
    for (const name of REFLECTION_LIST_FILES) {
      const file = join(repo, name);
      const committed = readFileSync(file, 'utf8');
      expect(withReflectionLists(file, committed, routes)).toBe(committed);
      const stale = committed.replace(/(KFRM_EDGE_REFLECTION_SERVICES(: |\n\s+value: ))kfrm\.api\.account\.AccountService,/, '$1');
      expect(stale).not.toBe(committed);
      expect(withReflectionLists(file, stale, routes)).toBe(committed);
    }
  });

  it('routes no internal service on the phones’ address', () => {
    const config = composeEdgeConfig(routes);
    const phones = config.slice(config.indexOf('ssl_verify_client'), config.indexOf("The operator's address"));
    for (const r of routes) {
      for (const name of r.mobile) expect(phones).toContain(`location /${name}/ {`);
      for (const name of r.internal) expect(phones).not.toContain(name);
    }
    expect(phones).toContain('grpc_set_header ssl-client-cert $ssl_client_escaped_cert;');
    expect(phones).toContain('grpc_set_header x-forwarded-client-cert "";');
    expect(config).toContain('grpc_read_timeout 4h;');
  });

  it.skipIf(!nginx)('writes a local config Debian’s nginx accepts (nginx -t)', async () => {
    const secrets = await ensureDevSecrets(join(dir, 'secrets'), ['localhost', '127.0.0.1'], ['tab-menu']);
    const pki = await ensureDevInternalPki(join(dir, 'secrets'), ['tab-menu']);
    const runDir = join(dir, 'run');
    const config = renderNginxConfig({
      flavour: 'local',
      routes,
      mobileListen: '127.0.0.1:1',
      operatorListen: '127.0.0.1:2',
      files: {
        serverCert: secrets.serverCertFile,
        serverKey: secrets.serverKeyFile,
        edgeCert: pki.edge.certFile,
        edgeKey: pki.edge.keyFile,
        internalCa: pki.internalCaCertFile,
      },
      upstream: () => ({ edge: '127.0.0.1:3', internal: '127.0.0.1:4' }),
      runDir,
      workerUser: process.getuid?.() === 0 ? 'nobody nogroup' : undefined,
    });
    rmSync(runDir, { recursive: true, force: true });
    spawnSync('mkdir', ['-p', runDir]);
    writeFileSync(join(runDir, 'nginx.conf'), config);
    const test = spawnSync(nginx!, ['-t', '-p', runDir, '-e', join(runDir, 'error.log'), '-c', join(runDir, 'nginx.conf')], {
      encoding: 'utf8',
    });
    expect(test.status, test.stderr).toBe(0);
  });
});
