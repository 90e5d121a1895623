import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// A process whose graceful stop hangs: the first signal starts it, the second must end the
// process at once with exit code 1 and say why, not die silently by the signal.
const child = `
import { onShutdownSignal } from ${JSON.stringify(fileURLToPath(new URL('./shutdown.ts', import.meta.url)))};
const logger = { info: () => {}, warn: (o, m) => process.stdout.write(m + '\\n'), error: () => {} };
onShutdownSignal(logger, () => new Promise(() => {}));
process.stdout.write('ready\\n');
setInterval(() => {}, 1000);
`;

describe('onShutdownSignal', () => {
  it('exits 1 with a log line on a second signal while the graceful stop hangs', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('ready') && !out.includes('sent')) {
        out += 'sent';
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGTERM'), 300);
      }
    });
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      proc.on('exit', (c, s) => resolve([c, s])),
    );
    expect(signal).toBeNull();
    expect(code).toBe(1);
    expect(out).toContain('second signal, exiting now');
  }, 30_000);
});
