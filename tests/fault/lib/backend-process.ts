// The all-in-one backend in real mode as an operator runs it (`pnpm start` with DATABASE_URL and
// REDIS_URL), in a child process the test can SIGKILL and start again on the same ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { checkHealth, type HealthStatus } from '../../../scripts/grpc-health-check';
import { waitFor } from './free-port';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

export interface BackendProcessOptions {
  env: Record<string, string>;
  mobilePort: number;
  internalPort: number;
}

export class BackendProcess {
  private child: ChildProcess | undefined;
  /** The last lines the process wrote (JSON logs), for the failure message of a test. */
  readonly output: string[] = [];
  /** Exits nobody asked for (code or signal), with the output's tail at the time. */
  readonly unexpectedExits: string[] = [];
  private expectingExit = false;

  constructor(private readonly options: BackendProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Spawns the process; resolves once the internal listener answers SERVING (returns ms from spawn). */
  async start(timeoutMs = 60_000): Promise<number> {
    const started = performance.now();
    this.expectingExit = false;
    const child = spawn(process.execPath, ['--import', 'tsx', 'packages/backend/src/main.ts'], {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/root',
        ...this.options.env,
        KFRM_MOBILE_LISTEN: `127.0.0.1:${this.options.mobilePort}`,
        KFRM_INTERNAL_LISTEN: `127.0.0.1:${this.options.internalPort}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        this.output.push(line);
        if (this.output.length > 400) this.output.shift();
      }
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    child.once('exit', (code, signal) => {
      if (!this.expectingExit) this.unexpectedExits.push(`exited (code ${code}, signal ${signal}):\n${this.output.slice(-30).join('\n')}`);
    });
    await waitFor(
      'backend answering SERVING',
      timeoutMs,
      async () => {
        if (child.exitCode !== null)
          throw new Error(`backend exited (${child.exitCode}) during start:\n${this.output.slice(-30).join('\n')}`);
        return (await this.health().catch(() => undefined)) === 'SERVING' ? true : undefined;
      },
      50,
    );
    return performance.now() - started;
  }

  /** grpc.health.v1 of the internal listener as a whole. */
  health(timeoutMs = 1_000): Promise<HealthStatus> {
    return checkHealth({ address: `127.0.0.1:${this.options.internalPort}`, timeoutMs });
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.expectingExit = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGKILL');
    await exited;
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (!child || !this.running) return;
    this.expectingExit = true;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  }
}
