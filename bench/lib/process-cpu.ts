// CPU time of the machine's processes by command name, from /proc (Linux only): lets a benchmark
// say where its CPU went — the backend, the load generator, PostgreSQL, Redis — per operation.
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

/** Milliseconds of CPU (user + system) used so far by every process whose command name is in `names`. */
export function cpuMsByCommand(names: readonly string[]): Record<string, number> {
  const totals: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return totals;
  }
  for (const pid of pids) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone since the listing
    }
    // pid (comm) state ... : comm may hold spaces, so split after the last ')'.
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(open + 1, close);
    const name = names.find((n) => comm === n || comm.startsWith(n));
    if (!name) continue;
    const fields = stat.slice(close + 2).split(' ');
    // fields[0] is state (field 3); utime, stime, cutime, cstime are fields 14-17. The children's
    // times count too: a PostgreSQL backend that exits mid-run (a closed connection) leaves its
    // CPU in the postmaster's cutime/cstime, and would otherwise vanish from the sum.
    totals[name]! += ((Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND) * 1000;
  }
  return totals;
}

/** What `cpuMsByCommand` grew by between two readings. */
export function cpuDelta(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));
}

/**
 * Milliseconds of CPU used by this process's children that have ended and been waited for (a
 * `spawnSync` run once it returns): what a one-shot tool such as pgbench cost, from the growth.
 */
export function endedChildrenCpuMs(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // cutime and cstime are fields 16 and 17 (fields[13] and fields[14] after the command name).
  return ((Number(fields[13]) + Number(fields[14])) / TICKS_PER_SECOND) * 1000;
}

/**
 * Milliseconds of CPU (user + system) used so far by one thread of a process, from
 * /proc/<pid>/task/<tid>/stat; a process's main thread has tid = pid. Undefined where /proc does
 * not answer. In a Node process the main thread runs the JavaScript; the argon2id verifies run on
 * libuv's pool and the garbage collector's and compiler's work partly on V8's helper threads.
 */
export function threadCpuMs(pid: number, tid: number = pid): number | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND) * 1000;
}

/** The machine's load average over 1, 5 and 15 minutes, as `uptime` prints it (the benches print it beside each figure). */
export function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}
