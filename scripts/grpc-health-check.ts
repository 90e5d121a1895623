// Container health check speaking grpc.health.v1: exits 0 only when the listener answers
// SERVING. No grpc_health_probe binary can be fetched where this project builds, so the image
// carries this instead (Dockerfile HEALTHCHECK, docker-compose `healthcheck:`).
//
//   node --import tsx scripts/grpc-health-check.ts                    internal listener (TLS when the
//                                                                     process has internal mTLS files)
//   node --import tsx scripts/grpc-health-check.ts --tls --ca FILE    mobile listener, TLS
//
// Options: --address host:port (default: KFRM_INTERNAL_LISTEN, or KFRM_MOBILE_LISTEN with --tls,
// a wildcard host replaced by loopback), --service NAME (default "" = the whole listener),
// --server-name NAME (TLS name to verify when it differs from the host), --timeout-ms N.
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { service as healthServiceDefinition } from 'grpc-health-check';

export type HealthStatus = 'SERVING' | 'NOT_SERVING' | 'UNKNOWN' | 'SERVICE_UNKNOWN';

export interface HealthCheckOptions {
  /** host:port, [v6]:port */
  address: string;
  /** PEM of the CA that issued the server certificate; plaintext when absent. */
  caPem?: Buffer;
  /** Name checked against the certificate when it is not the address's host. */
  serverName?: string;
  /** grpc.health.v1 service name; "" asks about the listener as a whole. */
  service?: string;
  timeoutMs?: number;
}

export class HealthCheckError extends Error {}

type CheckCallback = (err: grpc.ServiceError | null, response?: { status?: string }) => void;
type HealthClient = grpc.Client & {
  Check(request: { service: string }, metadata: grpc.Metadata, options: grpc.CallOptions, callback: CheckCallback): grpc.ClientUnaryCall;
};
const HealthClient = grpc.makeClientConstructor(healthServiceDefinition as grpc.ServiceDefinition, 'grpc.health.v1.Health');

/** One Check call. Resolves with the reported status; rejects when no answer comes. */
export function checkHealth(options: HealthCheckOptions): Promise<HealthStatus> {
  const credentials = options.caPem ? grpc.credentials.createSsl(options.caPem) : grpc.credentials.createInsecure();
  const channelOptions: grpc.ChannelOptions = options.serverName
    ? { 'grpc.ssl_target_name_override': options.serverName, 'grpc.default_authority': options.serverName }
    : {};
  const client = new HealthClient(options.address, credentials, channelOptions) as unknown as HealthClient;
  const deadline = new Date(Date.now() + (options.timeoutMs ?? 3_000));
  return new Promise<HealthStatus>((resolve, reject) => {
    client.Check({ service: options.service ?? '' }, new grpc.Metadata(), { deadline }, (err, response) => {
      client.close();
      if (err) {
        // NOT_FOUND is how the health service says it does not know the named service.
        if (err.code === grpc.status.NOT_FOUND) resolve('SERVICE_UNKNOWN');
        else reject(new HealthCheckError(`${grpc.status[err.code] ?? err.code}: ${err.details}`));
        return;
      }
      const status = response?.status;
      resolve(status === 'SERVING' || status === 'NOT_SERVING' || status === 'SERVICE_UNKNOWN' ? status : 'UNKNOWN');
    });
  });
}

/**
 * A listen address as the server binds it (KFRM_*_LISTEN) turned into one a local client can
 * dial: a wildcard host means "every interface", and loopback is one of them.
 */
export function dialAddress(listen: string): string {
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(listen.trim());
  if (!match) throw new HealthCheckError(`not a host:port address: ${listen}`);
  const host = match[1] ?? match[2] ?? '';
  const port = match[3];
  if (host === '' || host === '0.0.0.0') return `127.0.0.1:${port}`;
  if (host === '::') return `[::1]:${port}`;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The internal CA when the process's internal listener takes mTLS (its three files are set, as
 * in every split service's container): the check then speaks TLS to it. Health needs no client
 * certificate (grpc.health.v1 is not behind the access guard).
 */
export function internalListenerCa(env: NodeJS.ProcessEnv): Buffer | undefined {
  const files = [env.KFRM_INTERNAL_TLS_CERT_FILE, env.KFRM_INTERNAL_TLS_KEY_FILE, env.KFRM_INTERNAL_CA_CERT_FILE].map((f) => f?.trim());
  return files.every((f) => f) ? readFileSync(files[2]!) : undefined;
}

/** CLI: prints the status and returns the exit code (0 only for SERVING). */
export async function main(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      address: { type: 'string' },
      tls: { type: 'boolean', default: false },
      ca: { type: 'string' },
      'server-name': { type: 'string' },
      service: { type: 'string', default: '' },
      'timeout-ms': { type: 'string', default: '3000' },
    },
    strict: true,
  });
  try {
    if (values.tls && !values.ca) throw new HealthCheckError('--tls needs --ca FILE (the CA of the server certificate)');
    const listen =
      values.address ?? (values.tls ? (env.KFRM_MOBILE_LISTEN ?? '127.0.0.1:50051') : (env.KFRM_INTERNAL_LISTEN ?? '127.0.0.1:50052'));
    const timeoutMs = Number(values['timeout-ms']);
    if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new HealthCheckError('--timeout-ms must be a positive integer');
    const address = dialAddress(listen);
    const status = await checkHealth({
      address,
      caPem: values.tls && values.ca ? readFileSync(values.ca) : values.tls ? undefined : internalListenerCa(env),
      serverName: values['server-name'],
      service: values.service,
      timeoutMs,
    });
    process.stdout.write(`${address}${values.service ? ` ${values.service}` : ''}: ${status}\n`);
    return status === 'SERVING' ? 0 : 1;
  } catch (err) {
    process.stderr.write(`health check failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  // grpc-js passes an IP host as the TLS server name, which Node flags as deprecated (DEP0123)
  // on every run; the warning would fill the container's health log without telling anything.
  process.noDeprecation = true;
  process.exitCode = await main(process.argv.slice(2));
}
