// `pnpm demo`: the app simulator against a running backend (docs/demo.md).
import { readFile } from 'node:fs/promises';
import { runDemo } from './demo';
import { findDemoOperators, type DemoOperators } from './operator-credentials';
import { parseOptions, USAGE, UsageError, type CliOptions } from './options';

/** Runs the CLI; returns the exit code (0 every step succeeded, 1 a step failed, 2 bad options). */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<number> {
  let options: CliOptions;
  try {
    options = parseOptions(argv, env);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(`${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  let serverCaPem: Buffer;
  try {
    serverCaPem = await readFile(options.caFile);
  } catch (err) {
    console.error(
      `cannot read the server CA ${options.caFile}: ${(err as Error).message}\n` +
        'Start the backend first (`pnpm start` writes <data dir>/tls/server-ca.pem), or pass --ca (docker compose: deploy/dev-secrets/server-ca.pem).',
    );
    return 2;
  }
  let operators: DemoOperators;
  try {
    operators = await findDemoOperators(options, env);
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const result = await runDemo({ ...options, serverCaPem, operators }, process.stdout);
  return result.ok ? 0 : 1;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  // grpc-js sets the TLS server name to the target even when it is an IP address (127.0.0.1),
  // which Node flags as DEP0123 on every run; the certificate is still checked against its IP SAN.
  // Every other warning is printed as Node would.
  process.removeAllListeners('warning');
  process.on('warning', (warning: Error & { code?: string }) => {
    if (warning.code !== 'DEP0123') console.error(`(node) ${warning.name}: ${warning.message}`);
  });
  process.exitCode = await main(process.argv.slice(2), process.env);
}
