// A PostgreSQL cluster of the test's own (initdb + pg_ctl from the machine's PostgreSQL, on a free
// port, in a temporary directory), so a test can stop it, kill it and start it again without
// touching the machine's server. As root, the server runs as the `postgres` user (initdb refuses
// root).
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep, waitFor } from './free-port';

function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], 'bin') : undefined;
}

/** True when this machine can run a private cluster (Debian's PostgreSQL server package). */
export const canRunPrivatePostgres = (): boolean => postgresBinDir() !== undefined;

export interface PrivatePostgres {
  port: number;
  url: string;
  /** `pg_ctl stop -m fast`: clients are disconnected with 57P01, the server shuts down cleanly. */
  stopFast(): void;
  /** SIGKILL to the postmaster and every child: the next start runs crash recovery. */
  killAll(): Promise<void>;
  start(): void;
  /** Stops the server (immediate) and removes its directory. */
  destroy(): void;
}

export interface PrivatePostgresOptions {
  /** Default false: the fault tests kill the server, not the machine. A benchmark wants it on. */
  fsync?: boolean;
  /** More server settings, each passed as `-c name=value` (e.g. shared_preload_libraries). */
  settings?: Record<string, string>;
}

export async function startPrivatePostgres(config: PrivatePostgresOptions = {}): Promise<PrivatePostgres> {
  const bin = postgresBinDir();
  if (!bin) throw new Error('no PostgreSQL server binaries under /usr/lib/postgresql');
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'kfrm-fault-pg-'));
  const dataDir = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot
    ? {
        uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' })),
        gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' })),
      }
    : undefined;
  if (owner) chownSync(dir, owner.uid, owner.gid);
  const run = (tool: string, args: string[], timeoutMs = 60_000) => {
    const result = spawnSync(join(bin, tool), args, { encoding: 'utf8', timeout: timeoutMs, cwd: dir, ...(owner ?? {}) });
    if (result.status !== 0) throw new Error(`${tool} ${args.join(' ')} failed (${result.status}): ${result.stderr || result.stdout}`);
  };
  run('initdb', ['-D', dataDir, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--no-instructions']);
  // Unix sockets in the cluster's own directory.
  const extra = Object.entries(config.settings ?? {}).map(([name, value]) => {
    if (!/^[a-z_.]+$/.test(name) || !/^[A-Za-z0-9_.,-]+$/.test(value)) throw new Error(`unsupported server setting ${name}=${value}`);
    return ` -c ${name}=${value}`;
  });
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=${config.fsync ? 'on' : 'off'} -c max_connections=100${extra.join('')}`;
  const start = () => run('pg_ctl', ['start', '-w', '-t', '60', '-D', dataDir, '-l', join(dir, 'server.log'), '-o', options]);
  start();
  const postmasterPid = () => {
    const file = join(dataDir, 'postmaster.pid');
    return existsSync(file) ? Number(readFileSync(file, 'utf8').split('\n')[0]) : undefined;
  };
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const childrenOf = (pid: number): number[] =>
    (spawnSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).stdout ?? '').split('\n').filter(Boolean).map(Number);
  return {
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stopFast: () => run('pg_ctl', ['stop', '-w', '-m', 'fast', '-D', dataDir]),
    async killAll() {
      const pid = postmasterPid();
      if (!pid) throw new Error('private PostgreSQL is not running');
      const all = [pid, ...childrenOf(pid)];
      for (const p of all) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await waitFor('PostgreSQL processes gone', 10_000, () => (all.some(alive) ? undefined : true), 20);
      // Shared memory of the killed cluster is released once the last process is gone.
      await sleep(50);
    },
    start,
    destroy() {
      spawnSync(join(bin, 'pg_ctl'), ['stop', '-m', 'immediate', '-D', dataDir], { timeout: 30_000, ...(owner ?? {}) });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
