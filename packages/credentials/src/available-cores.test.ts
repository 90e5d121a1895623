import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { availableCores, cgroupCpuQuota } from './available-cores';

/** A file system with only these files; any other path is missing (ENOENT). */
const files = (contents: Record<string, string>) => (path: string) => {
  const text = contents[path];
  if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
  return text;
};

const V2 = '/sys/fs/cgroup/cpu.max';
const V1_QUOTA = '/sys/fs/cgroup/cpu/cpu.cfs_quota_us';
const V1_PERIOD = '/sys/fs/cgroup/cpu/cpu.cfs_period_us';

describe('cgroupCpuQuota', () => {
  it('reads cgroup v2: whole cores, rounded up; "max" is no quota', () => {
    expect(cgroupCpuQuota(files({ [V2]: '200000 100000\n' }))).toBe(2);
    expect(cgroupCpuQuota(files({ [V2]: '150000 100000\n' }))).toBe(2);
    expect(cgroupCpuQuota(files({ [V2]: '10000 100000\n' }))).toBe(1);
    expect(cgroupCpuQuota(files({ [V2]: 'max 100000\n' }))).toBeUndefined();
  });

  it('reads cgroup v1 when there is no v2 file; -1 is no quota', () => {
    expect(cgroupCpuQuota(files({ [V1_QUOTA]: '100000\n', [V1_PERIOD]: '100000\n' }))).toBe(1);
    expect(cgroupCpuQuota(files({ [V1_QUOTA]: '400000\n', [V1_PERIOD]: '100000\n' }))).toBe(4);
    expect(cgroupCpuQuota(files({ [V1_QUOTA]: '-1\n', [V1_PERIOD]: '100000\n' }))).toBeUndefined();
  });

  it('is undefined with no control group files, or contents it does not understand', () => {
    expect(cgroupCpuQuota(files({}))).toBeUndefined();
    expect(cgroupCpuQuota(files({ [V2]: 'garbage' }))).toBeUndefined();
    expect(cgroupCpuQuota(files({ [V2]: '100000 0' }))).toBeUndefined();
    expect(cgroupCpuQuota(files({ [V1_QUOTA]: '100000\n' }))).toBeUndefined();
  });
});

describe('availableCores', () => {
  it('is the CPUs the process may run on, fewer under a smaller quota, never more', () => {
    const cpus = availableParallelism();
    expect(availableCores(files({}))).toBe(cpus);
    expect(availableCores(files({ [V2]: '100000 100000' }))).toBe(1);
    expect(availableCores(files({ [V2]: `${(cpus + 8) * 100000} 100000` }))).toBe(cpus);
  });
});
