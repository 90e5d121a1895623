// `pnpm start:split`: every service in its own process behind Debian's nginx on this machine,
// the shape of a production deployment (docs/deploy.md, "Split behind the edge").
//
//   DATABASE_URL=postgres://… REDIS_URL=redis://… [real-mode secrets] npx pnpm@10 start:split
//
// It builds dist/ once (scripts/build.ts), applies migrations, makes the dev files that are
// missing (real-mode secrets not given in the environment, and always the internal PKI between
// nginx and the services and between the services, in ${KFRM_DATA_DIR:-.data}/split/secrets:
// each service calls the others with its own certificate), starts every service with
// KFRM_MOBILE_LISTEN=off, its internal and edge listeners on free loopback ports, then nginx:
// the phones' address on KFRM_MOBILE_LISTEN (default 127.0.0.1:50051, TLS) and the operator's
// on KFRM_INTERNAL_LISTEN (default 127.0.0.1:50052, plaintext; nginx reaches each service's
// internal listener over mTLS with the edge's certificate), so that
// `pnpm demo --ca <server CA>` runs unchanged. A service that exits is started again; Ctrl-C
// (SIGINT or SIGTERM) stops nginx and every service and exits 0.
//
// Once everything answers it prints one line: `start:split ready {json}` (ports, pids, files).
// KFRM_SPLIT_SKIP_BUILD=true reuses an existing dist/ (repeated runs while nothing changed).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDevInternalPki } from '@kfrm/pki';
import { ensureLocalOperatorIssuer } from '@kfrm/runtime';
import { buildDist } from './build';
import { devCertificateHosts, devSecretsEnv, ensureDevSecrets, serviceNames } from './dev-certs';
import { reflectionEnv, renderNginxConfig } from './edge-config';
import { deriveServiceRoutes, internalTargetsEnv, type ServiceRoutes } from './edge-routes';
import { checkHealth } from './grpc-health-check';

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** The real-mode variables a service process needs; missing ones get dev files. */
const SECRET_VARIABLES = [
  'KFRM_TLS_CERT_FILE',
  'KFRM_TLS_KEY_FILE',
  'KFRM_DEVICE_CA_CERT_FILE',
  'KFRM_DEVICE_CA_KEY_FILE',
  'KFRM_E2E_KEK_FILE',
  'KFRM_AUTH_PEPPER_FILE',
  'KFRM_CASA_PEPPER_FILE',
  'KFRM_USER_DATA_KEY_FILE',
  'KFRM_USER_RESIDENT_ID_HASH_KEY_FILE',
  'KFRM_SIGNING_CA_CERT_FILE',
  'KFRM_SIGNING_CA_KEY_FILE',
] as const;

/** Restarts of one service allowed within a minute before the run gives up on it. */
const MAX_RESTARTS_PER_MINUTE = 5;

const say = (text: string) => process.stderr.write(`start:split: ${text}\n`);

function listensOn(port: number): Promise<boolean> {
  return new Promise((ok) => {
    const server = createServer();
    server.once('error', () => ok(false));
    server.listen(port, '127.0.0.1', () => server.close(() => ok(true)));
  });
}

/**
 * A free port below Linux's ephemeral range (32768–60999): a service started again after a crash
 * binds its port again, and by then an outgoing connection must not have been given it. Between
 * 20000 and 26000, apart from the tests' own private servers (tests/fault/lib/free-port.ts,
 * 26000–32000): a port is checked free and bound a moment later, and in that moment the tests
 * running beside start:split (a private PostgreSQL or Redis, restarted on its port) must not take
 * it. A CI run lost the race once ("No address added": the transfer service could not bind).
 */
async function freePort(taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 6_000);
    if (!taken.has(port) && (await listensOn(port))) {
      taken.add(port);
      return port;
    }
  }
  throw new Error('no free port between 20000 and 26000');
}

function listenOf(value: string | undefined, fallback: string): string {
  const address = value?.trim() || fallback;
  if (!/^(\[[^\]]+\]|[^:]+):\d{1,5}$/.test(address)) throw new Error(`not host:port: ${address}`);
  return address;
}

/** Debian's nginx: installed with apt-get when missing (as root), never a proxy of our own. */
function ensureNginx(): string {
  const found = spawnSync('sh', ['-c', 'command -v nginx || ls /usr/sbin/nginx 2>/dev/null'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found.split('\n')[0]!;
  if (process.getuid?.() !== 0) {
    throw new Error('nginx is not installed; run `sudo apt-get install -y nginx` (Debian/Ubuntu) and start again');
  }
  say('nginx is missing: apt-get install -y nginx');
  for (const args of [['update'], ['install', '-y', '--no-install-recommends', 'nginx']]) {
    const result = spawnSync('apt-get', args, { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(' ')} failed`);
  }
  return '/usr/sbin/nginx';
}

/** Thrown by a readiness check when the run is being stopped: waiting makes no sense any more. */
class Stopping extends Error {}

async function waitFor(what: string, timeoutMs: number, ready: () => Promise<boolean>): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const answered = await ready().catch((err: unknown) => {
      if (err instanceof Stopping) throw err;
      return false;
    });
    if (answered) return;
    if (Date.now() > until) throw new Error(`${what} did not come up within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface ServiceProcess {
  service: string;
  internalPort: number;
  edgePort: number;
  metricsPort: number;
  child: ChildProcess;
  restarts: number[];
  /** Answered SERVING once: an exit before that is a start-up failure (bad configuration), not a crash. */
  ready: boolean;
}

/** Stops what was started when start-up fails half-way. */
let abandon: (() => Promise<void>) | undefined;

export async function main(env: NodeJS.ProcessEnv = process.env): Promise<void> {
  if (!env.DATABASE_URL || !env.REDIS_URL) {
    throw new Error('set DATABASE_URL and REDIS_URL (a split run is real mode: PostgreSQL and Redis shared by every process)');
  }
  const dataDir = resolve(env.KFRM_DATA_DIR ?? '.data');
  const splitDir = join(dataDir, 'split');
  const secretsDir = join(splitDir, 'secrets');
  const runDir = join(splitDir, 'nginx');
  const mobileListen = listenOf(env.KFRM_MOBILE_LISTEN, '127.0.0.1:50051');
  const operatorListen = listenOf(env.KFRM_INTERNAL_LISTEN, '127.0.0.1:50052');
  const nginx = ensureNginx();

  // Build, routes and secrets do not depend on each other.
  const started = performance.now();
  const services = await serviceNames(repoRoot);
  const [routes, devSecrets] = await Promise.all([
    deriveServiceRoutes(),
    ensureDevSecrets(secretsDir, await devCertificateHosts(repoRoot), services),
    env.KFRM_SPLIT_SKIP_BUILD === 'true' && existsSync(join(repoRoot, 'dist/migrate.mjs')) ? undefined : buildDist(),
  ]);
  const generated = SECRET_VARIABLES.filter((name) => !env[name]);
  const secrets: Record<string, string> = { ...devSecretsEnv(devSecrets) };
  for (const name of SECRET_VARIABLES) if (env[name]) secrets[name] = env[name]!;
  if (generated.length > 0) say(`dev files for ${generated.join(', ')} in ${secretsDir}`);
  const pki = await ensureDevInternalPki(secretsDir, services);
  const serverCaCertFile = env.KFRM_TLS_CERT_FILE ? undefined : devSecrets.serverCaCertFile;
  // Operators: without an identity provider, the local issuer of the data directory (as the
  // embedded default), so `pnpm operator-token` and `pnpm demo` work against this run too.
  const localOperatorIssuer = !env.KFRM_OPERATOR_JWKS_URL && !env.KFRM_OPERATOR_JWKS_FILE;
  const operatorIssuerDir = join(dataDir, 'operator-issuer');
  if (localOperatorIssuer) await ensureLocalOperatorIssuer(operatorIssuerDir);
  say(`built and prepared in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  // As the compose dev stack does: without provider addresses, funding uses the sandboxes.
  const fundingSandboxes = !env.KONAPLATE_URL && !env.KAKAOCERT_URL && env.KFRM_FUNDING_SANDBOXES === undefined;
  if (fundingSandboxes) say('no KONAPLATE_URL / KAKAOCERT_URL: funding runs the in-process sandboxes (KFRM_FUNDING_SANDBOXES=true)');
  const baseEnv: NodeJS.ProcessEnv = {
    ...env,
    ...(fundingSandboxes ? { KFRM_FUNDING_SANDBOXES: 'true' } : {}),
    ...secrets,
    // Ten processes share PostgreSQL's max_connections (100 by default): a small pool each.
    DB_POOL_MAX: env.DB_POOL_MAX ?? '4',
    KFRM_MIGRATE_ON_START: 'false',
    KFRM_INTERNAL_CA_CERT_FILE: pki.internalCaCertFile,
    ...(localOperatorIssuer ? { KFRM_OPERATOR_JWKS_FILE: join(operatorIssuerDir, 'jwks.json') } : {}),
  };
  const migrate = spawnSync(process.execPath, [join(repoRoot, 'dist/migrate.mjs')], {
    env: baseEnv,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  if (migrate.status !== 0) throw new Error('migrations failed (see above)');

  const processes: ServiceProcess[] = [];
  const taken = new Set<number>();
  for (const route of routes) {
    processes.push({
      service: route.service,
      internalPort: await freePort(taken),
      edgePort: await freePort(taken),
      metricsPort: await freePort(taken),
      child: undefined as unknown as ChildProcess,
      restarts: [],
      ready: false,
    });
  }
  // The back-office console (docs/back-office.md): KFRM_BACK_OFFICE_LISTEN when given, else the
  // embedded default's port when free, else any free one (another run holds it): printed in the
  // ready line. Sign-in with local-issuer tokens, as on the embedded default.
  const backOfficeListen = env.KFRM_BACK_OFFICE_LISTEN ?? `127.0.0.1:${(await listensOn(50060)) ? 50060 : await freePort(taken)}`;
  const backOfficeEnv = {
    KFRM_BACK_OFFICE_LISTEN: backOfficeListen,
    ...(localOperatorIssuer && env.KFRM_BACK_OFFICE_TOKEN_SIGN_IN === undefined ? { KFRM_BACK_OFFICE_TOKEN_SIGN_IN: 'true' } : {}),
  };
  const byService = new Map(processes.map((p) => [p.service, p]));
  const targets = internalTargetsEnv(routes, (service) => `127.0.0.1:${byService.get(service)!.internalPort}`);
  let stopping = false;

  const launch = (p: ServiceProcess) => {
    const child = spawn(process.execPath, [join(repoRoot, `dist/services/${p.service}.mjs`)], {
      env: {
        ...baseEnv,
        ...targets,
        KFRM_MOBILE_LISTEN: 'off',
        KFRM_INTERNAL_LISTEN: `127.0.0.1:${p.internalPort}`,
        KFRM_EDGE_LISTEN: `127.0.0.1:${p.edgePort}`,
        KFRM_METRICS_LISTEN: `127.0.0.1:${p.metricsPort}`,
        KFRM_INTERNAL_TLS_CERT_FILE: pki.services[p.service]!.certFile,
        KFRM_INTERNAL_TLS_KEY_FILE: pki.services[p.service]!.keyFile,
        ...reflectionEnv(routes, p.service),
        ...(p.service === 'back-office' ? backOfficeEnv : {}),
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    p.child = child;
    child.on('exit', (code, signal) => {
      if (stopping) return;
      if (!p.ready) {
        say(`${p.service} exited (${signal ?? code}) before it served: stopping everything`);
        void stopAll(1, 'failure');
        return;
      }
      const now = Date.now();
      p.restarts = p.restarts.filter((t) => now - t < 60_000);
      if (p.restarts.length >= MAX_RESTARTS_PER_MINUTE) {
        say(`${p.service} exited (${signal ?? code}) ${MAX_RESTARTS_PER_MINUTE} times within a minute: stopping everything`);
        void stopAll(1, 'failure');
        return;
      }
      p.restarts.push(now);
      say(`${p.service} exited (${signal ?? code}); starting it again`);
      setTimeout(() => {
        if (!stopping) launch(p);
      }, 500);
    });
  };

  let nginxChild: ChildProcess | undefined;
  const stopAll = async (exitCode: number, why: string) => {
    if (stopping) return;
    stopping = true;
    say(`stopping (${why})`);
    const exits = [...processes.map((p) => p.child), nginxChild]
      .filter((c): c is ChildProcess => c !== undefined && c.exitCode === null && c.signalCode === null)
      .map((c) => new Promise<void>((ok) => c.once('exit', () => ok())));
    // nginx: SIGQUIT is its graceful stop; services drain on SIGTERM (KFRM_SHUTDOWN_GRACE_MS).
    nginxChild?.kill('SIGQUIT');
    for (const p of processes) p.child?.kill('SIGTERM');
    const forced = setTimeout(() => {
      nginxChild?.kill('SIGKILL');
      for (const p of processes) p.child?.kill('SIGKILL');
    }, 15_000);
    await Promise.all(exits);
    clearTimeout(forced);
    process.exit(exitCode);
  };
  abandon = () => stopAll(1, 'start-up failed');
  process.once('SIGINT', () => void stopAll(0, 'SIGINT'));
  process.once('SIGTERM', () => void stopAll(0, 'SIGTERM'));

  for (const p of processes) launch(p);
  // The internal listeners take mTLS from the internal CA; health needs no client certificate.
  const internalCaPem = await readFile(pki.internalCaCertFile);
  await Promise.all(
    processes.map((p) =>
      waitFor(`${p.service}`, 60_000, async () => {
        if (stopping) throw new Stopping(`${p.service} is not needed any more`);
        p.ready = (await checkHealth({ address: `127.0.0.1:${p.internalPort}`, caPem: internalCaPem, timeoutMs: 1_000 })) === 'SERVING';
        return p.ready;
      }),
    ),
  );

  await rm(runDir, { recursive: true, force: true });
  await mkdir(runDir, { recursive: true });
  const isRoot = process.getuid?.() === 0;
  const config = renderNginxConfig({
    flavour: 'local',
    routes,
    mobileListen,
    operatorListen,
    files: {
      serverCert: secrets.KFRM_TLS_CERT_FILE!,
      serverKey: secrets.KFRM_TLS_KEY_FILE!,
      edgeCert: pki.edge.certFile,
      edgeKey: pki.edge.keyFile,
      internalCa: pki.internalCaCertFile,
    },
    upstream: (service) => ({
      edge: `127.0.0.1:${byService.get(service)!.edgePort}`,
      internal: `127.0.0.1:${byService.get(service)!.internalPort}`,
    }),
    runDir,
    workerUser: isRoot ? 'nobody nogroup' : undefined,
  });
  const configFile = join(runDir, 'nginx.conf');
  await writeFile(configFile, config);
  const nginxArgs = ['-p', runDir, '-e', join(runDir, 'error.log'), '-c', configFile];
  const test = spawnSync(nginx, [...nginxArgs, '-t'], { encoding: 'utf8' });
  if (test.status !== 0) throw new Error(`nginx refused ${configFile}:\n${test.stderr}`);
  nginxChild = spawn(nginx, [...nginxArgs, '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'inherit'] });
  nginxChild.on('exit', (code, signal) => {
    if (stopping) return;
    say(`nginx exited (${signal ?? code}); see ${join(runDir, 'error.log')}`);
    void stopAll(1, 'failure');
  });
  const caPem = await readFile(serverCaCertFile ?? secrets.KFRM_TLS_CERT_FILE!);
  const mobileDial = mobileListen.replace(/^0\.0\.0\.0:/, '127.0.0.1:');
  await waitFor('the edge', 30_000, async () => (await checkHealth({ address: mobileDial, caPem, timeoutMs: 1_000 })) === 'SERVING');

  const ready = {
    edge: mobileListen,
    operator: operatorListen,
    backOffice: `http://${backOfficeListen}`,
    serverCaCertFile: serverCaCertFile ?? secrets.KFRM_TLS_CERT_FILE,
    nginxConfig: configFile,
    nginxPid: nginxChild.pid,
    internalCaCertFile: pki.internalCaCertFile,
    edgeCertFile: pki.edge.certFile,
    edgeKeyFile: pki.edge.keyFile,
    services: Object.fromEntries(
      processes.map((p) => [
        p.service,
        { pid: p.child.pid, internalPort: p.internalPort, edgePort: p.edgePort, metricsPort: p.metricsPort },
      ]),
    ),
  };
  process.stdout.write(`start:split ready ${JSON.stringify(ready)}\n`);
  say(
    `ready in ${((performance.now() - started) / 1000).toFixed(1)} s: phones ${mobileListen} (TLS), operator ${operatorListen}; Ctrl-C stops`,
  );
  if (serverCaCertFile) say(`try: npx pnpm@10 demo --ca ${serverCaCertFile}`);
}

export type { ServiceRoutes };

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch(async (err: unknown) => {
    say(err instanceof Error ? err.message : String(err));
    if (abandon) await abandon();
    process.exit(1);
  });
}
