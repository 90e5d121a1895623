// Start benchmark (not a test): time from spawning a backend process to its first SERVING answer
// on grpc.health.v1 (internal listener), for the TypeScript entry point run through tsx (what
// `pnpm start` does) and the compiled bundle (dist/, `pnpm build`; what containers run), in the
// embedded default and in real mode. "cold" is the first start on a new data directory or
// database (migrations run); "warm" the starts after it on the migrated one.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/start.ts
//
// Env: BENCH_STARTS (warm starts per case, default 3), BENCH_RUNNERS (default tsx,compiled). Real mode is skipped without
// DATABASE_URL and REDIS_URL. Scratch databases and directories are removed at the end.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { checkHealth } from '../scripts/grpc-health-check';
import { devSecretsEnv, ensureDevSecrets } from '../scripts/dev-certs';
import { buildDist } from '../scripts/build';
import { freePort } from '../tests/fault/lib/free-port';
import { loadAverage } from './lib/process-cpu';

const root = fileURLToPath(new URL('..', import.meta.url));
const warmStarts = Number(process.env.BENCH_STARTS ?? 3);

const watchdog = setTimeout(() => {
  console.error('bench/start: watchdog fired');
  process.exit(1);
}, 15 * 60_000);
watchdog.unref();

type Runner = 'tsx' | 'compiled';
const command = (runner: Runner): string[] =>
  runner === 'tsx' ? ['--import', 'tsx', 'packages/backend/src/main.ts'] : ['dist/backend.mjs'];

/**
 * CPU time (user + system, ms) the process has used so far, from /proc: on a machine shared with
 * other work the wall-clock time measures the machine as much as the start, its CPU time much less.
 */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  // After "pid (comm) ": utime and stime are fields 14 and 15 of the line, 12 and 13 here.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
}
const clockTicks = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** Whether something accepts TCP connections on the loopback port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Spawns the backend, waits for SERVING, stops it; ms from spawn to SERVING, and its CPU ms by then. */
async function timeStart(runner: Runner, env: Record<string, string>): Promise<{ ms: number; cpuMs: number }> {
  const internalPort = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, command(runner), {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/root',
      ...env,
      KFRM_MOBILE_LISTEN: '127.0.0.1:0',
      KFRM_INTERNAL_LISTEN: `127.0.0.1:${internalPort}`,
      KFRM_METRICS_LISTEN: '127.0.0.1:0',
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`backend exited (${child.exitCode}): ${stderr.slice(-2000)}`);
      // A gRPC client per check costs the bench's own process CPU that the starting process
      // then lacks on two cores; a TCP connect is next to nothing. So: connect until the listener
      // is bound, then ask grpc.health.v1 (the first SERVING answer is what is timed).
      const status = (await listening(internalPort))
        ? await checkHealth({ address: `127.0.0.1:${internalPort}`, timeoutMs: 200 }).catch(() => undefined)
        : undefined;
      if (status === 'SERVING') return { ms: performance.now() - started, cpuMs: cpuMsOf(child.pid!) };
      if (performance.now() - started > 300_000) throw new Error('no SERVING within 300 s');
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'kfrm-bench-start-'));
const databases: string[] = [];
type Start = { ms: number; cpuMs: number };
const rows: { runner: Runner; mode: string; cold: Start; warm: Start[]; load: string }[] = [];
try {
  if (!existsSync(join(root, 'dist/backend.mjs')) || process.env.BENCH_REBUILD !== 'false') await buildDist();
  const secrets = await ensureDevSecrets(join(scratch, 'secrets'), ['localhost', '127.0.0.1']);
  const realEnv = (databaseUrl: string) => ({
    DATABASE_URL: databaseUrl,
    REDIS_URL: process.env.REDIS_URL!,
    KFRM_MIGRATE_ON_START: 'true',
    ...devSecretsEnv(secrets),
    KFRM_FUNDING_SANDBOXES: 'true',
    KFRM_DATA_DIR: join(scratch, `data-${randomBytes(3).toString('hex')}`),
  });
  // BENCH_RUNNERS=compiled (or tsx) measures one runner only: on a loaded machine a tsx start
  // can take minutes.
  const runners = (process.env.BENCH_RUNNERS ?? 'tsx,compiled').split(',').filter((r): r is Runner => r === 'tsx' || r === 'compiled');
  for (const runner of runners) {
    const cases: { mode: string; env: () => Record<string, string> }[] = [
      {
        mode: 'embedded default',
        env: (() => {
          const dir = join(scratch, `embedded-${runner}`);
          return () => ({ KFRM_DATA_DIR: dir });
        })(),
      },
    ];
    const adminUrl = process.env.DATABASE_URL;
    if (adminUrl && process.env.REDIS_URL) {
      const name = `kfrm_bench_start_${randomBytes(4).toString('hex')}`;
      execFileSync('psql', ['-X', '-q', '-d', adminUrl, '-c', `create database "${name}"`]);
      databases.push(name);
      const url = new URL(adminUrl);
      url.pathname = `/${name}`;
      const env = realEnv(url.toString());
      cases.push({ mode: 'real mode (PostgreSQL, Redis)', env: () => env });
    }
    for (const c of cases) {
      const load = loadAverage();
      const cold = await timeStart(runner, c.env());
      const warm: Start[] = [];
      for (let i = 0; i < warmStarts; i++) warm.push(await timeStart(runner, c.env()));
      rows.push({ runner, mode: c.mode, cold, warm, load });
      console.error(`done: ${runner}, ${c.mode}`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log('\nstart to first SERVING (grpc.health.v1, internal listener), ms of wall clock (CPU ms of the process by then):');
  console.log('| runner | mode | cold (first start, migrations) | warm (median of starts) | warm, each | load avg (1/5/15 min) |');
  console.log('|---|---|---:|---:|---|---|');
  const show = (s: Start) => `${s.ms.toFixed(0)} (${s.cpuMs.toFixed(0)})`;
  for (const r of rows) {
    const warmMs = median(r.warm.map((w) => w.ms));
    const warmCpu = median(r.warm.map((w) => w.cpuMs));
    console.log(
      `| ${r.runner} | ${r.mode} | ${show(r.cold)} | ${show({ ms: warmMs, cpuMs: warmCpu })} | ${r.warm.map(show).join(', ')} | ${r.load} |`,
    );
  }
  for (const mode of new Set(rows.map((r) => r.mode))) {
    const tsx = rows.find((r) => r.runner === 'tsx' && r.mode === mode);
    const compiled = rows.find((r) => r.runner === 'compiled' && r.mode === mode);
    if (tsx && compiled) {
      const ratio = (f: (s: Start) => number) => (median(compiled.warm.map(f)) / median(tsx.warm.map(f))).toFixed(2);
      console.log(`${mode}: compiled / tsx warm = ${ratio((s) => s.ms)} wall clock, ${ratio((s) => s.cpuMs)} CPU`);
    }
  }
  console.log(`load after: ${loadAverage()}`);
} finally {
  for (const name of databases)
    execFileSync('psql', ['-X', '-q', '-d', process.env.DATABASE_URL!, '-c', `drop database if exists "${name}" with (force)`]);
  rmSync(scratch, { recursive: true, force: true });
}
