import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

type ReadFile = (path: string) => string;

const readText: ReadFile = (path) => readFileSync(path, 'utf8');

/**
 * The cores this process may use: the CPUs it may run on, fewer when its control group caps its
 * CPU time. A container's quota (Kubernetes `limits.cpu`, `docker run --cpus`) is not visible to
 * `availableParallelism()`, which counts the host's CPUs: a pod limited to one CPU on a 16-core
 * node would otherwise run 16 memory-hard hashes at once in one CPU's time.
 */
export function availableCores(read: ReadFile = readText): number {
  const quota = cgroupCpuQuota(read);
  const cpus = availableParallelism();
  return quota === undefined ? cpus : Math.min(cpus, quota);
}

/**
 * The CPU quota of the process's control group, rounded up to whole cores, from the group
 * mounted at /sys/fs/cgroup (a container's own, with cgroup namespaces): v2's `cpu.max`
 * ("<quota> <period>", or "max <period>" for none), else v1's `cpu.cfs_quota_us` (-1 for none)
 * and `cpu.cfs_period_us`. Undefined when there is none, or nothing readable.
 */
export function cgroupCpuQuota(read: ReadFile = readText): number | undefined {
  const v2 = readOrUndefined(read, '/sys/fs/cgroup/cpu.max');
  if (v2 !== undefined) {
    const [quota, period] = v2.trim().split(/\s+/);
    return quota === 'max' ? undefined : cores(Number(quota), Number(period));
  }
  const quota = readOrUndefined(read, '/sys/fs/cgroup/cpu/cpu.cfs_quota_us');
  const period = readOrUndefined(read, '/sys/fs/cgroup/cpu/cpu.cfs_period_us');
  if (quota === undefined || period === undefined) return undefined;
  return cores(Number(quota.trim()), Number(period.trim()));
}

function cores(quota: number, period: number): number | undefined {
  // -1 (v1) is "no quota"; anything else that is not a positive count is not one we understand.
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return undefined;
  return Math.max(1, Math.ceil(quota / period));
}

function readOrUndefined(read: ReadFile, path: string): string | undefined {
  try {
    return read(path);
  } catch {
    return undefined;
  }
}
