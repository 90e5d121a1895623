import { readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import type { OperatorRole } from '@kfrm/server-kit';
import { mintLocalOperatorToken } from './operator-issuer';

/**
 * Puts an operator's bearer token on every call of a client (`interceptors: [...]`). The
 * operator's address is plaintext on loopback (the embedded default, the edge's operator port),
 * and grpc-js refuses call credentials on an insecure channel, hence metadata set by an interceptor.
 */
export function operatorTokenInterceptor(token: string): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        metadata.set('authorization', `Bearer ${token}`);
        next(metadata, listener);
      },
    });
}

/**
 * The operator token a tool (demo, CLIs, benchmarks) uses: the one it was given (a flag or
 * KFRM_OPERATOR_TOKEN, e.g. from Keycloak against compose or Kubernetes), else one it mints
 * itself with the embedded default's local issuer in the data directory (KFRM_DATA_DIR, default
 * .data) — the same directory the backend it talks to runs from.
 */
export async function findOperatorToken(options: {
  token?: string;
  env?: Record<string, string | undefined>;
  roles: readonly OperatorRole[];
  subject?: string;
  ttlSeconds?: number;
}): Promise<string> {
  const env = options.env ?? process.env;
  const given = options.token ?? env.KFRM_OPERATOR_TOKEN;
  if (given) return given.trim();
  const issuerDir = join(resolve(env.KFRM_DATA_DIR ?? '.data'), 'operator-issuer');
  try {
    await access(join(issuerDir, 'signing-key.jwk.json'));
  } catch {
    throw new Error(
      `no operator credentials: no local operator issuer in ${issuerDir} (start the embedded backend with this KFRM_DATA_DIR first),` +
        ' and no --operator-token / KFRM_OPERATOR_TOKEN (compose and Kubernetes: a token from the identity provider)',
    );
  }
  return mintLocalOperatorToken(issuerDir, { roles: options.roles, subject: options.subject, ttlSeconds: options.ttlSeconds });
}

/**
 * The channel credentials of a tool (demo, CLIs, jobs) that calls internal listeners:
 * - KFRM_INTERNAL_TLS_CERT_FILE, _KEY_FILE and KFRM_INTERNAL_CA_CERT_FILE: mTLS as the service
 *   whose certificate that is (a job run beside its service, e.g. funding's reconciliation);
 * - KFRM_INTERNAL_CA_CERT_FILE alone: TLS without a client certificate, straight to a service's
 *   internal listener (its token says who the operator is);
 * - neither: plaintext, for the loopback operator addresses (`pnpm start`, the edge's 50052).
 */
export function internalToolCredentials(env: Record<string, string | undefined> = process.env): grpc.ChannelCredentials {
  const ca = env.KFRM_INTERNAL_CA_CERT_FILE?.trim();
  if (!ca) return grpc.credentials.createInsecure();
  const cert = env.KFRM_INTERNAL_TLS_CERT_FILE?.trim();
  const key = env.KFRM_INTERNAL_TLS_KEY_FILE?.trim();
  if (cert && key) return grpc.credentials.createSsl(readFileSync(ca), readFileSync(key), readFileSync(cert));
  return grpc.credentials.createSsl(readFileSync(ca));
}
