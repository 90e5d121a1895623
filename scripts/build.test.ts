import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../tests/fault/lib/free-port';
import { buildDist, copyPGliteWorker } from './build';
import { checkHealth } from './grpc-health-check';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('the production build (dist/)', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('starts the embedded default from the bundle, with PGlite on its worker thread, to SERVING and a clean stop', async () => {
    // Inside the repository: the packages left out of the bundle resolve from its node_modules.
    const dist = join(root, '.tmp', `build-test-${randomBytes(4).toString('hex')}`);
    const data = mkdtempSync(join(tmpdir(), 'kfrm-build-test-'));
    dirs.push(dist, data);
    await buildDist(dist);
    expect(readdirSync(dist)).toContain('pglite-worker.mjs');

    const internalPort = await freePort();
    const child = spawn(process.execPath, [join(dist, 'backend.mjs')], {
      cwd: root,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        KFRM_DATA_DIR: data,
        KFRM_MOBILE_LISTEN: '127.0.0.1:0',
        KFRM_INTERNAL_LISTEN: `127.0.0.1:${internalPort}`,
        KFRM_METRICS_LISTEN: '127.0.0.1:0',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      let status: string | undefined;
      const deadline = Date.now() + 150_000;
      while (status !== 'SERVING' && child.exitCode === null && Date.now() < deadline) {
        status = await checkHealth({ address: `127.0.0.1:${internalPort}`, timeoutMs: 1_000 }).catch(() => undefined);
        if (status !== 'SERVING') await new Promise((r) => setTimeout(r, 200));
      }
      expect(status, stderr).toBe('SERVING');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited, stderr).toBe(0);
  }, 240_000);

  it('refuses a bundle that looks for the PGlite worker where it is not, or where the check cannot see', async () => {
    const dist = join(root, '.tmp', `build-test-${randomBytes(4).toString('hex')}`);
    dirs.push(dist);
    const services = join(dist, 'services');
    mkdirSync(services, { recursive: true });
    const reference = 'var workerUrl = new URL("./pglite-worker.mjs", import.meta.url);\n';
    writeFileSync(join(dist, 'chunk-A.mjs'), 'export {};\n');
    await expect(copyPGliteWorker(dist)).rejects.toThrow(/no bundle .* starts the PGlite worker/);
    writeFileSync(join(services, 'account.mjs'), reference);
    await expect(copyPGliteWorker(dist)).rejects.toThrow(/services\/account\.mjs look for the PGlite worker in their own folder/);
    rmSync(join(services, 'account.mjs'));
    writeFileSync(join(dist, 'chunk-A.mjs'), reference);
    await copyPGliteWorker(dist);
  });
});
