// Notification fan-out: N live streams, one event each from the ledger's PostTransfer, against a
// bare grpc-js server-streaming broadcast over the same TLS (issue 17 target 6).
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/fanout.ts [--streams 1000] [--tsx] [--split]
//
// BENCH_PROFILE_DIR=<dir> writes each server's CPU profile of the posting and delivery
// (fanout-<mode>.cpuprofile). BENCH_HEAP_SNAPSHOT_DIR=<dir> also writes each server's heap snapshot at its base and with the
// streams open and after they closed (<mode>-base, <mode>-idle, <mode>-closed .heapsnapshot), after the memory figure.
//
// `--split` runs kfrm's ledger in a process of its own (as split deployments do): the notification
// server then relays and delivers only, and the postings' commits cost it nothing.
//
// The servers run as an esbuild bundle of bench/lib/fanout-server.ts (scripts/build.ts's
// options: the code as containers run it); `--tsx` runs the TypeScript through tsx instead,
// whose transform gives every named closure its own `name` property (≈ 2 KB more per stream).
//
// Streams are spread over 1,000 users at most (10,000 streams = 1,000 users × 10) and client
// connections of 50 streams each (at least 16). Prints per mode: delivery lag p50/p99 from the
// COMMIT of each event's posting (the bare broadcast: from its write call) to the client's receipt,
// with the server's share of it (commit → handed to grpc-js) and, for kfrm, the relay's (commit →
// read from the ledger's outbox); deliveries per second; the server's heap and RSS per idle stream
// (over a base taken after a warm-up: connections and first streams opened and closed) and after
// the streams closed; and a reconnect burst of 1,000 stream opens; then the ratios and `uptime`.
// The servers run in a child process (bench/lib/fanout-server.ts).
import './lib/bench-limits';
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { buildBundles } from '../scripts/build';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { NotificationServiceClient, type NotificationEventResponse } from '@kfrm/proto/gen/kfrm/api/notification/notification';
import { childAsker } from './lib/child-ask';
import type { FromServer, ToServer } from './lib/fanout-server';

const arg = process.argv.indexOf('--streams');
const STREAMS = arg > 0 ? Number(process.argv[arg + 1]) : 1_000;
const USERS = Math.min(STREAMS, 1_000);
/** The listener allows 64 concurrent streams per HTTP/2 connection (server-kit limits): 50 per connection here. */
const CONNECTIONS = Math.max(16, Math.ceil(STREAMS / 50));
const BURST = 1_000;
const RUNNER = process.argv.includes('--tsx') ? 'tsx' : 'compiled';
/** The ledger in a process of its own, as in split deployments (default: in the notification server's, as in the embedded default). */
const SPLIT = process.argv.includes('--split');
const serverEntry = fileURLToPath(
  new URL(RUNNER === 'tsx' ? './lib/fanout-server.ts' : '../dist/bench/fanout-server.mjs', import.meta.url),
);
if (RUNNER === 'compiled')
  await buildBundles({ 'fanout-server': 'bench/lib/fanout-server.ts' }, fileURLToPath(new URL('../dist/bench', import.meta.url)));
const now = () => performance.timeOrigin + performance.now();

function tls() {
  const dir = mkdtempSync(join(tmpdir(), 'kfrm-fanout-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(join(dir, 'cert.pem'), 'utf8'), key: readFileSync(join(dir, 'key.pem'), 'utf8') };
}

function startServer(mode: 'kfrm' | 'bare', certs: { cert: string; key: string }) {
  const child: ChildProcess = fork(serverEntry, [], {
    execArgv: [...(RUNNER === 'tsx' ? ['--import', 'tsx'] : []), '--expose-gc'],
    env: { ...process.env, FANOUT_MODE: mode, FANOUT_TLS: JSON.stringify(certs), ...(SPLIT ? { FANOUT_SPLIT: '1' } : {}) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = childAsker<ToServer, FromServer>(child, 'fan-out server');
  return { ready: ask(undefined, 'ready'), ask };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

async function run(mode: 'kfrm' | 'bare', certs: { cert: string; key: string }) {
  const server = startServer(mode, certs);
  const { port } = await server.ready;
  const clients = Array.from(
    { length: CONNECTIONS },
    (_, i) =>
      new NotificationServiceClient(`127.0.0.1:${port}`, grpc.credentials.createSsl(Buffer.from(certs.cert)), {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.primary_user_agent': `fanout-${i}`,
      }),
  );
  const received = new Map<string, number[]>();
  const open = (i: number) => {
    const user = `u${i % USERS}`;
    const md = new grpc.Metadata();
    md.set('x-bench-user', user);
    const call = clients[i % CONNECTIONS]!.subscribeNotification({}, md);
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    call.on('data', (_e: NotificationEventResponse) => {
      const times = received.get(user) ?? [];
      if (times.length === 0) received.set(user, times);
      times.push(now());
    });
    call.on('error', () => undefined);
    return { call, status };
  };
  const waitLive = async (count: number, timeoutMs = 120_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { count: live } = await server.ask({ type: 'live' }, 'live');
      if (live >= count || Date.now() > deadline) return live;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  const snapshotDir = process.env.BENCH_HEAP_SNAPSHOT_DIR;
  for (const dir of [snapshotDir, process.env.BENCH_PROFILE_DIR]) if (dir) mkdirSync(dir, { recursive: true });
  const snapshotFile = (label: string) => (snapshotDir ? join(snapshotDir, `${mode}-${label}.heapsnapshot`) : undefined);
  // Warm-up: every client connection opened, its first streams opened and closed, so the base
  // and the figure after closing both have the connections, the compiled code and the source maps
  // a stream's life needs (otherwise "after closing" counts them as memory not given back).
  const warmup = Array.from({ length: Math.max(CONNECTIONS, Math.min(STREAMS, BURST)) }, (_, i) => open(i));
  await waitLive(warmup.length);
  for (const s of warmup) s.call.cancel();
  await Promise.all(warmup.map((s) => s.status));
  await waitLive(0);
  const base = await server.ask({ type: 'memory', snapshotFile: snapshotFile('base') }, 'memory');
  const streams = Array.from({ length: STREAMS }, (_, i) => open(i));
  await waitLive(STREAMS);
  const idle = await server.ask({ type: 'memory', snapshotFile: snapshotFile('idle') }, 'memory');

  const profileDir = process.env.BENCH_PROFILE_DIR;
  if (profileDir) await server.ask({ type: 'profile-start' }, 'profile-started');
  const { committedAt } = await server.ask({ type: 'post', users: USERS }, 'posted');
  const perUser = STREAMS / USERS;
  const deadline = Date.now() + 120_000;
  while ([...received.values()].reduce((n, t) => n + t.length, 0) < STREAMS && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const lags: number[] = [];
  let first = Number.POSITIVE_INFINITY;
  let last = 0;
  for (const [user, times] of received) {
    for (const t of times) {
      lags.push(t - committedAt[user]!);
      last = Math.max(last, t);
    }
    first = Math.min(first, committedAt[user]!);
  }
  const { writtenAt, readAt } = await server.ask({ type: 'written' }, 'written');
  const serverLags = Object.entries(writtenAt)
    .flatMap(([user, times]) => times.map((t) => t - committedAt[user]!))
    .sort((a, b) => a - b);
  // kfrm only: commit → the relay's read of the outbox, per event.
  const readLags = Object.entries(readAt)
    .map(([user, t]) => t - committedAt[user]!)
    .sort((a, b) => a - b);
  if (profileDir) await server.ask({ type: 'profile-stop', file: join(profileDir, `fanout-${mode}.cpuprofile`) }, 'profile-written');
  lags.sort((a, b) => a - b);
  const delivered = lags.length;

  for (const s of streams) s.call.cancel();
  await Promise.all(streams.map((s) => s.status));
  await waitLive(0);
  await new Promise((r) => setTimeout(r, 500));
  const closed = await server.ask({ type: 'memory', snapshotFile: snapshotFile('closed') }, 'memory');

  // Reconnect burst: 1,000 opens at once.
  const burst = Array.from({ length: BURST }, (_, i) => open(i));
  const accepted = await waitLive(BURST, 30_000);
  for (const s of burst) s.call.cancel();
  const burstStatuses = await Promise.all(burst.map((s) => s.status));
  const refused = burstStatuses.filter((s) => s.code !== grpc.status.CANCELLED && s.code !== grpc.status.OK).length;

  for (const c of clients) c.close();
  await server.ask({ type: 'stop' }, 'stopped');
  return {
    mode,
    delivered,
    expected: STREAMS,
    perUser,
    p50: percentile(lags, 50),
    p99: percentile(lags, 99),
    serverP50: percentile(serverLags, 50),
    serverP99: percentile(serverLags, 99),
    readP50: percentile(readLags, 50),
    readP99: percentile(readLags, 99),
    // How fast the events were committed: delivery keeps up only while commits come slower than it writes.
    postingMs: Math.max(...Object.values(committedAt)) - Math.min(...Object.values(committedAt)),
    perSecond: delivered / ((last - first) / 1000),
    idleBytesPerStream: (idle.heapUsed - base.heapUsed) / STREAMS,
    idleRssPerStream: (idle.rss - base.rss) / STREAMS,
    heapAfterCloseMb: closed.heapUsed / 1e6,
    heapBaseMb: base.heapUsed / 1e6,
    heapOpenMb: idle.heapUsed / 1e6,
    burstAccepted: accepted,
    burstRefused: refused,
  };
}

const certs = tls();
console.log(
  `fan-out: ${STREAMS} streams over ${USERS} users, ${CONNECTIONS} TLS connections, servers ${RUNNER}${SPLIT ? ', ledger in its own process' : ''}; load before: ${execFileSync('uptime').toString().trim()}`,
);
const results = [];
for (const mode of ['bare', 'kfrm'] as const) {
  const r = await run(mode, certs);
  results.push(r);
  console.log(
    `${mode.padEnd(4)}: delivered ${r.delivered}/${r.expected}; lag p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms ` +
      `(of which the server, commit → handed to grpc-js: p50 ${r.serverP50.toFixed(1)} ms, p99 ${r.serverP99.toFixed(1)} ms` +
      `${mode === 'kfrm' ? `; commit → read by the relay: p50 ${r.readP50.toFixed(1)} ms, p99 ${r.readP99.toFixed(1)} ms` : ''}); ` +
      `${r.perSecond.toFixed(0)} deliveries/s (the ${USERS} ${mode === 'kfrm' ? 'postings committed' : 'events written'} over ${r.postingMs.toFixed(0)} ms); heap ${r.heapBaseMb.toFixed(1)} MB base, ${r.heapOpenMb.toFixed(1)} MB open ` +
      `(${(r.idleBytesPerStream / 1024).toFixed(1)} KB heap, ${(r.idleRssPerStream / 1024).toFixed(1)} KB RSS per idle stream), ` +
      `${r.heapAfterCloseMb.toFixed(1)} MB after closing; burst of ${BURST}: ${r.burstAccepted} live, ${r.burstRefused} refused`,
  );
}
const [bare, kfrm] = results;
console.log(
  `ratio kfrm/bare: throughput ${(kfrm!.perSecond / bare!.perSecond).toFixed(2)}×; heap per idle stream ${(kfrm!.idleBytesPerStream / Math.max(1, bare!.idleBytesPerStream)).toFixed(2)}×`,
);
console.log(`load after: ${execFileSync('uptime').toString().trim()}`);
