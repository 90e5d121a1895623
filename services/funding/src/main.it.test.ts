// The funding service's own entry point in real mode (DATABASE_URL set) without Konaplate or
// kakaoCert credentials, as a pod or compose container starts it: with KFRM_FUNDING_SANDBOXES=true
// it serves against its sandboxes; without, it exits at once with one fatal log line naming what
// is missing (exit code 1, no stack trace), instead of a crash loop of stack traces.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDevCertificates } from '@kfrm/pki';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const skip = process.env.DATABASE_URL ? undefined : 'DATABASE_URL not set';
const main = fileURLToPath(new URL('./main.ts', import.meta.url));

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts main.ts with exactly `env` (plus PATH); resolves when the process exits, or, when
 * `until` matches a stdout line first, sends SIGTERM and resolves once it has stopped.
 */
function runMain(env: Record<string, string>, until?: RegExp): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', main], {
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!signalled && until?.test(stdout)) {
        signalled = true;
        child.kill('SIGTERM');
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function logLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe.skipIf(skip !== undefined)(skip ? `funding main (skipped: ${skip})` : 'funding main in real mode', () => {
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kfrm-funding-main-'));
    const tls = await ensureDevCertificates(join(dir, 'tls'));
    await writeFile(join(dir, 'e2e-kek'), randomBytes(32).toString('base64'));
    env = {
      DATABASE_URL: process.env.DATABASE_URL!,
      ...(process.env.REDIS_URL ? { REDIS_URL: process.env.REDIS_URL } : {}),
      KFRM_DATA_DIR: join(dir, 'data'),
      KFRM_MOBILE_LISTEN: '127.0.0.1:0',
      KFRM_INTERNAL_LISTEN: '127.0.0.1:0',
      KFRM_METRICS_LISTEN: '127.0.0.1:0',
      KFRM_MIGRATE_ON_START: 'false',
      KFRM_TLS_CERT_FILE: tls.serverCertFile,
      KFRM_TLS_KEY_FILE: tls.serverKeyFile,
      KFRM_DEVICE_CA_CERT_FILE: tls.deviceCaCertFile,
      KFRM_DEVICE_CA_KEY_FILE: tls.deviceCaKeyFile,
      KFRM_E2E_KEK_FILE: join(dir, 'e2e-kek'),
      LOG_LEVEL: 'info',
    };
  }, 60_000);
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('exits with code 1 and one fatal line naming the missing settings, without a stack trace', async () => {
    const run = await runMain(env);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe('');
    const lines = logLines(run.stdout);
    const fatal = lines.filter((l) => l['level'] === 60 || l['level'] === 'fatal');
    expect(fatal).toHaveLength(1);
    const message = String(fatal[0]!['msg']);
    expect(message).toMatch(/KONAPLATE_URL/);
    expect(message).toMatch(/KAKAOCERT_URL/);
    expect(message).toMatch(/KFRM_FUNDING_SANDBOXES=true/);
    expect(run.stdout).not.toMatch(/\n\s+at /);
    expect(lines.every((l) => l['level'] !== 50)).toBe(true);
  }, 90_000);

  it('starts against its sandboxes with KFRM_FUNDING_SANDBOXES=true, and stops on SIGTERM', async () => {
    // "started" comes once the shutdown handler is in place, so SIGTERM then stops it in order.
    const run = await runMain({ ...env, KFRM_FUNDING_SANDBOXES: 'true' }, /"msg":"started"/);
    const messages = logLines(run.stdout).map((l) => String(l['msg']));
    expect(messages.filter((m) => m === 'listening')).toHaveLength(2);
    expect(messages.some((m) => m.startsWith('funding: embedded sandboxes started'))).toBe(true);
    expect(messages).toContain('stopped');
    expect(run.code).toBe(0);
  }, 90_000);
});
