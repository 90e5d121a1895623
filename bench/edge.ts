// Edge benchmark (not a test; issue 13, item 7): what nginx in front of the split services costs.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/edge.ts
//
// 1. Added latency per call: the same call, one client, sequential, to the same service process
//    — through nginx (the phone's TLS to nginx, nginx's kept-alive mTLS to the service's edge
//    listener) and straight to that edge listener (mTLS with the edge's certificate, as nginx
//    connects). Two calls: grpc.health.v1 Check (no database) and TabMenuService
//    ListBenefitItems (one query). p50 and p99 of each, the difference is the edge (target
//    ≤ 0.5 ms at p50).
// 2. Full transfers per second at 16 clients (GetPreCheck, AuthenticatePin, a PKCS#7 signature,
//    Execute — tests/fault/lib/bank-load.ts), through the edge to the split services vs the
//    all-in-one backend (one process, in-process internal calls), same machine, same database
//    server, fresh databases.
// Env: BENCH_CALLS (per call kind and path, default 2000), BENCH_SECONDS (transfer run, default
// 10), BENCH_CLIENTS (default 16). Prints `uptime` before and after: the machine may be shared.
import './lib/bench-limits';
import { mintLocalOperatorToken } from '@kfrm/runtime';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { openTestDatabase } from '@kfrm/db/test-database';
import { TabMenuServiceClient } from '@kfrm/proto/gen/kfrm/api/tabmenu/tab_menu';
import { service as healthService } from 'grpc-health-check';
import { setUpPhone, TransferLoad, type Phone } from '../tests/fault/lib/bank-load';
import { freePort, sleep } from '../tests/fault/lib/free-port';
import { startBackendProcess } from './lib/backend-process';

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)));
if (!process.env.DATABASE_URL || !process.env.REDIS_URL) {
  console.error('set DATABASE_URL (scratch databases are created there) and REDIS_URL');
  process.exit(2);
}
const CALLS = Number(process.env.BENCH_CALLS ?? 2000);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 16);
const uptime = () => execFileSync('uptime', { encoding: 'utf8' }).trim();

const watchdog = setTimeout(() => {
  console.error('bench/edge.ts: watchdog: still running after 10 minutes, giving up');
  process.exit(3);
}, 10 * 60_000);
watchdog.unref();

interface Ready {
  edge: string;
  operator: string;
  serverCaCertFile: string;
  internalCaCertFile: string;
  edgeCertFile: string;
  edgeKeyFile: string;
  services: Record<string, { edgePort: number }>;
}

async function startSplit(env: NodeJS.ProcessEnv): Promise<{ ready: Ready; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', join(repo, 'scripts/start-split.ts')], {
    cwd: repo,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await new Promise<Ready>((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = /^start:split ready (.*)$/m.exec(out);
      if (line) ok(JSON.parse(line[1]!) as Ready);
    });
    child.once('exit', (code) => fail(new Error(`start:split exited (${code})`)));
  });
  return {
    ready,
    stop: () =>
      new Promise<void>((ok) => {
        child.once('exit', () => ok());
        child.kill('SIGINT');
      }),
  };
}

type Unary = (done: (err: grpc.ServiceError | null) => void) => void;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Alternates blocks of calls on both paths, so drift in the machine's load hits both alike. */
async function latencies(paths: Record<'edge' | 'direct', Unary>): Promise<Record<'edge' | 'direct', { p50: number; p99: number }>> {
  const samples: Record<'edge' | 'direct', number[]> = { edge: [], direct: [] };
  const once = (call: Unary) =>
    new Promise<number>((ok, fail) => {
      const started = process.hrtime.bigint();
      call((err) => (err ? fail(err) : ok(Number(process.hrtime.bigint() - started) / 1e6)));
    });
  for (const call of Object.values(paths)) for (let i = 0; i < 50; i++) await once(call); // warm-up
  const BLOCK = 100;
  for (let done = 0; done < CALLS; done += BLOCK) {
    for (const [name, call] of Object.entries(paths) as ['edge' | 'direct', Unary][]) {
      for (let i = 0; i < BLOCK; i++) samples[name].push(await once(call));
    }
  }
  const summary = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
  };
  return { edge: summary(samples.edge), direct: summary(samples.direct) };
}

async function transfersPerSecond(phones: Phone[]): Promise<number> {
  const load = new TransferLoad(phones, { executeGiveUpMs: 30_000, pauseMs: 100 });
  load.start();
  await sleep(2_000); // warm-up
  const from = performance.now();
  const before = load.outcomes.filter((o) => o.answer === 'OK').length;
  await sleep(SECONDS * 1000);
  const after = load.outcomes.filter((o) => o.answer === 'OK').length;
  const elapsed = (performance.now() - from) / 1000;
  await load.stop();
  const refused = load.outcomes.filter((o) => o.answer !== 'OK').length;
  if (refused > 0)
    console.log(
      `  (${refused} transfers refused: ${[...new Set(load.outcomes.filter((o) => o.answer !== 'OK').map((o) => o.answer))].join(', ')})`,
    );
  return (after - before) / elapsed;
}

/** A phone set up, tried again once after a failed connection (seen once on a machine at load 11). */
async function phoneAt(
  index: number,
  address: string,
  operator: string,
  serverCaPem: Buffer,
  operatorToken: string,
  operatorCredentials?: grpc.ChannelCredentials,
): Promise<Phone> {
  try {
    return await setUpPhone(index, address, serverCaPem, operator, operatorToken, operatorCredentials);
  } catch (err) {
    if ((err as grpc.ServiceError).code !== grpc.status.UNAVAILABLE) throw err;
    console.log(`  (phone ${index}: ${(err as grpc.ServiceError).details}; trying again)`);
    await sleep(1_000);
    return setUpPhone(index + 1000, address, serverCaPem, operator, operatorToken, operatorCredentials);
  }
}

/**
 * `operatorIssuerDir`: the local operator issuer of the backend (start:split's data directory, the
 * embedded one's). `operatorCredentials`: how to reach `operator` (plaintext by default; the
 * benchmarks' backend has service identity on its internal listener, so TLS to its CA).
 */
async function phonesAt(
  address: string,
  operator: string,
  serverCaPem: Buffer,
  operatorIssuerDir: string,
  operatorCredentials?: grpc.ChannelCredentials,
): Promise<Phone[]> {
  const operatorToken = await mintLocalOperatorToken(operatorIssuerDir, { roles: ['teller', 'kyc-reviewer'], subject: 'bench' });
  const phones: Phone[] = [];
  for (let i = 0; i < CLIENTS; i += 4) {
    const batch = [0, 1, 2, 3]
      .filter((k) => i + k < CLIENTS)
      .map((k) => phoneAt(i + k, address, operator, serverCaPem, operatorToken, operatorCredentials));
    phones.push(...(await Promise.all(batch)));
  }
  return phones;
}

const f = (ms: number) => `${ms.toFixed(3)} ms`;
console.log(`bench/edge.ts · ${CALLS} calls per path and kind, transfers for ${SECONDS} s at ${CLIENTS} clients`);
console.log(`before: ${uptime()}`);
const dir = mkdtempSync(join(tmpdir(), 'kfrm-bench-edge-'));
const splitDb = await openTestDatabase({ backend: 'postgres', poolMax: 1 });
try {
  const [edgePort, operatorPort] = [await freePort(), await freePort()];
  const split = await startSplit({
    ...process.env,
    DATABASE_URL: splitDb.databaseUrl,
    KFRM_DATA_DIR: join(dir, 'data'),
    KFRM_MOBILE_LISTEN: `127.0.0.1:${edgePort}`,
    KFRM_INTERNAL_LISTEN: `127.0.0.1:${operatorPort}`,
    KFRM_AUTH_SECRET_CHECKS_PER_DEVICE_WINDOW: '1000000',
    LOG_LEVEL: 'warn',
  });
  let splitTps: number;
  try {
    const { ready } = split;
    const serverCaPem = readFileSync(ready.serverCaCertFile);
    const phoneTls = grpc.credentials.createSsl(serverCaPem);
    const edgeTls = grpc.credentials.createSsl(
      readFileSync(ready.internalCaCertFile),
      readFileSync(ready.edgeKeyFile),
      readFileSync(ready.edgeCertFile),
    );
    const direct = `127.0.0.1:${ready.services['tab-menu']!.edgePort}`;
    const Health = grpc.makeClientConstructor(healthService as grpc.ServiceDefinition, 'Health');
    type HealthClient = grpc.Client & { check(req: { service: string }, cb: (err: grpc.ServiceError | null) => void): void };
    const healthEdge = new Health(ready.edge, phoneTls) as unknown as HealthClient;
    const healthDirect = new Health(direct, edgeTls) as unknown as HealthClient;
    const menuEdge = new TabMenuServiceClient(ready.edge, phoneTls);
    const menuDirect = new TabMenuServiceClient(direct, edgeTls);
    const health = await latencies({
      edge: (done) => healthEdge.check({ service: '' }, done),
      direct: (done) => healthDirect.check({ service: '' }, done),
    });
    const menu = await latencies({
      edge: (done) => menuEdge.listBenefitItems({}, (err) => done(err)),
      direct: (done) => menuDirect.listBenefitItems({}, (err) => done(err)),
    });
    console.log('\nlatency per call, 1 client, sequential (same tab-menu process)');
    for (const [name, r] of [
      ['Health/Check', health],
      ['TabMenu/ListBenefitItems', menu],
    ] as const) {
      console.log(
        `  ${name.padEnd(26)} through nginx p50 ${f(r.edge.p50)} p99 ${f(r.edge.p99)} · direct p50 ${f(r.direct.p50)} p99 ${f(r.direct.p99)} · ` +
          `added p50 ${f(r.edge.p50 - r.direct.p50)} p99 ${f(r.edge.p99 - r.direct.p99)}`,
      );
    }
    const phones = await phonesAt(ready.edge, ready.operator, serverCaPem, join(dir, 'data', 'operator-issuer'));
    splitTps = await transfersPerSecond(phones);
    for (const phone of phones) phone.app.close();
    // Closed last: phones share their connection to the edge with these (grpc-js pools equal channels).
    for (const client of [healthEdge, healthDirect, menuEdge, menuDirect]) client.close();
  } finally {
    await split.stop();
  }

  const backend = await startBackendProcess({ authSettings: { secretChecksPerDeviceWindow: 1_000_000 }, poolMax: 20 });
  let allInOneTps: number;
  try {
    const phones = await phonesAt(
      `127.0.0.1:${backend.mobilePort}`,
      `127.0.0.1:${backend.internalPort}`,
      readFileSync(backend.serverCaCertFile),
      backend.operatorIssuerDir,
      backend.internal.operatorTool(),
    );
    allInOneTps = await transfersPerSecond(phones);
    for (const phone of phones) phone.app.close();
  } finally {
    await backend.stop();
  }
  console.log(`\nfull transfers per second, ${CLIENTS} clients, ${SECONDS} s`);
  console.log(
    `  split behind nginx ${splitTps.toFixed(1)}/s · all-in-one ${allInOneTps.toFixed(1)}/s · ratio ${(splitTps / allInOneTps).toFixed(2)}`,
  );
} finally {
  await splitDb.close();
  rmSync(dir, { recursive: true, force: true });
  console.log(`\nafter: ${uptime()}`);
}
