import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import type { ListenAddress } from '@kfrm/config';
import { inProcessInterceptor, type InProcessResolver, putCallerHeaders, routeInProcess } from './in-process-calls';

export type ClientConstructor<C extends grpc.Client> = (new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: Partial<grpc.ClientOptions>,
) => C) & {
  service: Record<string, { path: string }>;
};

/**
 * Generated clients for other services' internal APIs. A service reaches another only through
 * these (never through its tables). The target of `kfrm.api.<pkg>.*` services is
 * KFRM_INTERNAL_TARGET_<PKG> when set (services deployed apart), else KFRM_INTERNAL_TARGET,
 * else this process's own internal listener (the embedded default, where every service is in
 * one process). Clients are made on first use, after the listeners are bound. Calls to the own
 * listener skip HTTP/2 when `inProcess` is given (in-process-calls.ts).
 */
export interface InternalClients {
  get<C extends grpc.Client>(ctor: ClientConstructor<C>): C;
  close(): void;
}

export function internalPackageOf(ctor: { service: Record<string, { path: string }> }): string {
  const path = Object.values(ctor.service)[0]?.path ?? '';
  // "/kfrm.api.user.UserService/FindBySessionToken" → "user"
  const match = /^\/kfrm\.api\.([a-z0-9_]+)\./.exec(path);
  if (!match) throw new Error(`not a kfrm service client: ${path}`);
  return match[1]!;
}

/**
 * Puts the caller's trace context (`traceparent`, `tracestate`) and request id (`x-request-id`)
 * on every internal call, so the callee's server span is a child of the caller's and both log
 * the same request id. A header the caller set itself is kept.
 */
export const propagationInterceptor: grpc.Interceptor = (options, nextCall) =>
  new grpc.InterceptingCall(nextCall(options), {
    start(metadata, listener, next) {
      putCallerHeaders(metadata);
      next(metadata, listener);
    },
  });

/** This service's internal certificate, its key and the internal CA (the KFRM_INTERNAL_TLS_* files). */
export interface InternalClientTls {
  certFile: string;
  keyFile: string;
  caFile: string;
}

/**
 * mTLS to another service's internal listener: its server certificate must come from the
 * internal CA (and name the host dialled), and ours tells it who calls — the only service
 * identity it accepts from the network. Read when a client is made (first use); a renewed
 * certificate reaches new clients, i.e. the next process start.
 */
export function internalChannelCredentials(tls: InternalClientTls): grpc.ChannelCredentials {
  return grpc.credentials.createSsl(readFileSync(tls.caFile), readFileSync(tls.keyFile), readFileSync(tls.certFile));
}

export function createInternalClients(options: {
  targets: Record<string, string>;
  defaultTarget: string | undefined;
  /** The bound internal listener, for the embedded default. */
  ownListener: () => ListenAddress;
  /**
   * Methods this process serves itself, called without the network when the target is the own
   * listener (KFRM_INTERNAL_IN_PROCESS, default on). Unset: every call goes over the network.
   */
  inProcess?: InProcessResolver;
  /**
   * The service these clients call for: its in-process calls carry this name (the composition
   * root gives each module clients of its own). Over the network the certificate speaks.
   */
  callerService?: string;
  /** mTLS with this service's internal certificate; absent: plaintext (no service identity). */
  tls?: InternalClientTls;
}): InternalClients {
  const clients = new Map<unknown, grpc.Client>();
  const targetFor = (pkg: string) => {
    const explicit = options.targets[pkg] ?? options.defaultTarget;
    if (explicit) return explicit;
    const own = options.ownListener();
    const host = own.host === '0.0.0.0' || own.host === '::' || own.host === '[::]' ? '127.0.0.1' : own.host;
    return `${host}:${own.port}`;
  };
  return {
    get<C extends grpc.Client>(ctor: ClientConstructor<C>): C {
      let client = clients.get(ctor) as C | undefined;
      if (!client) {
        const pkg = internalPackageOf(ctor);
        const own = options.targets[pkg] === undefined && options.defaultTarget === undefined;
        const credentials = options.tls ? internalChannelCredentials(options.tls) : grpc.credentials.createInsecure();
        client = new ctor(targetFor(pkg), credentials, {
          // Fail fast when the other service is down instead of queueing calls.
          'grpc.enable_retries': 0,
          // Propagation first: the in-process interceptor ends the chain and carries its headers.
          interceptors: [
            propagationInterceptor,
            ...(own && options.inProcess ? [inProcessInterceptor(options.inProcess, options.callerService)] : []),
          ],
        });
        // unaryCall serves these calls without the grpc-js client; the interceptor covers direct use.
        if (own && options.inProcess) routeInProcess(client, options.inProcess, options.callerService);
        clients.set(ctor, client);
      }
      return client;
    },
    close() {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
  };
}
