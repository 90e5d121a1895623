// Redis commands by name, from INFO commandstats: how many store round trips an operation costs
// and which commands they are, as the benchmarks print them per operation beside PostgreSQL's
// transactions. Counts are the server's, so every client of that Redis counts: the benches run
// alone on it and take off the backend's idle rate.
import { execFileSync } from 'node:child_process';

/** Calls so far per command name (lower case, `cmdstat_` dropped), the reading's own INFO left out. */
export function readRedisCommandCalls(redisUrl: string): Map<string, number> {
  const out = execFileSync('redis-cli', ['-u', redisUrl, '--no-raw', 'info', 'commandstats'], { encoding: 'utf8' });
  const calls = new Map<string, number>();
  for (const line of out.split(/\r?\n/)) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (m && m[1] !== 'info') calls.set(m[1]!, Number(m[2]));
  }
  return calls;
}

/** What each command's count grew by from `before` to `after`. */
export function redisCallsDelta(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const delta = new Map<string, number>();
  for (const [name, n] of after) {
    const grown = n - (before.get(name) ?? 0);
    if (grown > 0) delta.set(name, grown);
  }
  return delta;
}

/** "12.0 (evalsha 5.0, get 4.0, …)": per-operation calls, net of an idle rate per second over `seconds`. */
export function formatRedisCallsPerOperation(
  delta: Map<string, number>,
  operations: number,
  idlePerSecond: Map<string, number> = new Map(),
  seconds = 0,
): string {
  const per = [...delta]
    .map(([name, n]) => [name, (n - (idlePerSecond.get(name) ?? 0) * seconds) / operations] as const)
    .filter(([, n]) => n >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  const total = per.reduce((sum, [, n]) => sum + n, 0);
  return `${total.toFixed(1)} (${per.map(([name, n]) => `${name} ${n.toFixed(1)}`).join(', ') || 'none'})`;
}
