import { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import type { Logger } from '@kfrm/logging';
import type { AccessGuard } from './access';
import type { CallAuditSink } from './call-audit';
import type { ApprovalDesk } from './operator-approval';
import type { ClientAddressSource } from './client-address-source';
import type { ClientCertificateSource } from './client-certificate-source';
import { credentialsLoaded } from './credentials';
import type { MethodDefinitionLike, MethodPolicy, ServiceRegistration } from './define-service';
import { splitFileDescriptorSet } from './descriptor-set';
import type { IdempotencyOptions } from './idempotency';
import { cachePeerCertificatesOfHttp2Connections } from './peer-certificate-cache';
import { addLazyReflection } from './lazy-reflection';
import { IN_PROCESS_PEER, inProcessCallers, type ServedCall, StreamServedCall, UnaryServedCall } from './served-call';

export interface ListenerLimits {
  /** Largest request we accept; larger ones (also after decompression) get RESOURCE_EXHAUSTED. */
  maxReceiveMessageBytes: number;
  maxSendMessageBytes: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: bounds what one connection can keep open. */
  maxConcurrentStreams: number;
  /** Per-connection memory cap in grpc-js (MiB) against stream and ping floods. */
  maxSessionMemoryMb: number;
}

/** Chosen on purpose: every app message is small (a CSR or certificate is a few KiB). */
export const DEFAULT_LIMITS: ListenerLimits = {
  maxReceiveMessageBytes: 256 * 1024,
  maxSendMessageBytes: 4 * 1024 * 1024,
  maxConcurrentStreams: 64,
  maxSessionMemoryMb: 16,
};

export interface ListenerOptions {
  /** For logs and health: 'mobile' or 'internal'. */
  name: string;
  host: string;
  port: number;
  credentials: grpc.ServerCredentials;
  guard: AccessGuard;
  logger: Logger;
  /** Serialized FileDescriptorSet of the contract, for server reflection. */
  descriptorSet?: Buffer;
  limits?: Partial<ListenerLimits>;
  /** Metrics and tracing per call (see @kfrm/observability); calls are served the same without it. */
  observer?: CallObserver;
  /**
   * Services reflection lists besides this listener's own: served elsewhere behind the same
   * address (the edge routes reflection to one service for all of them).
   */
  reflectionAlsoLists?: string[];
  /** Where the client certificate comes from; default the TLS peer certificate (see client-certificate-source.ts). */
  clientCertificate?: ClientCertificateSource;
  /** Where the caller's address comes from; default the TCP peer (see client-address-source.ts). */
  clientAddress?: ClientAddressSource;
  /** The audit log, for methods with an `audit` policy (call-audit.ts); without it they are not recorded. */
  audit?: CallAuditSink;
  /** Where operator calls that need a second operator go (operator-approval.ts); without it they are UNAVAILABLE. */
  approvals?: ApprovalDesk;
  /**
   * Answers kept for `idempotent` methods called with an idempotency key (idempotency.ts);
   * without it the key is not looked at (the internal listener: services retry by business keys).
   */
  idempotency?: IdempotencyOptions;
}

/**
 * Told about every call a listener serves. `start` runs before the access check; `run` wraps the
 * guard, the handler and the outcome's bookkeeping (so the observer's context, e.g. the active
 * span, covers them); `end` gets the final status once.
 */
export interface CallObserver {
  start(call: { path: string; requestId: string; metadata: grpc.Metadata }): CallObservation;
}
export interface CallObservation {
  /** Extra fields for the call's logger, e.g. trace_id and span_id. */
  logFields: Record<string, string>;
  run<T>(fn: () => T): T;
  /**
   * A server stream is open: access granted, its handler about to run (it may then be open for
   * hours). The observer may let go of what it would keep until `end` (a span and its context).
   */
  streamOpened?(): void;
  end(code: grpc.status, codeName: string): void;
}

/** A unary call made in this process (see {@link GrpcListener.inProcessUnary}). */
export interface InProcessCall {
  request: unknown;
  metadata: grpc.Metadata;
  deadline?: Date;
  /** Aborted when the caller cancels or its deadline passes. */
  signal?: AbortSignal;
  /**
   * The calling service, named by the composition root that made its internal clients: the
   * identity the internal guard sees (in-process calls carry no certificate).
   */
  caller?: string;
}
export interface InProcessResult {
  /** Response headers (x-request-id). */
  metadata: grpc.Metadata;
  status: grpc.StatusObject;
  /** Set when status is OK. */
  response?: unknown;
}
export type InProcessUnary = (call: InProcessCall) => Promise<InProcessResult>;

const HEALTH_SERVICE = 'grpc.health.v1.Health';

export { addressWithoutPort, deadlineToDate, uriSans } from './served-call';

/**
 * One gRPC server on one address, with the standard health and reflection services, a guard
 * that decides access per method, and uniform logging and error mapping for every call.
 */
export class GrpcListener {
  readonly server: grpc.Server;
  readonly health = new HealthImplementation({ '': 'NOT_SERVING' });
  private readonly serviceNames: string[] = [];
  /** Methods registered without a handler (they answer UNIMPLEMENTED). */
  readonly unimplementedMethods: string[] = [];
  /** Calls being served: aborted at shutdown so long-lived streams end cleanly. */
  readonly running = new Set<ServedCall>();
  private shutdownBegun = false;
  private boundPort: number | undefined;
  /** Unary methods by full path, for calls made from this process (see {@link inProcessUnary}). */
  private readonly unaryByPath = new Map<
    string,
    { definition: MethodDefinitionLike; implementation: grpc.handleUnaryCall<unknown, unknown> }
  >();
  /** In-process calls not yet answered; shutdown waits for them like for network calls. */
  private readonly inProcessCalls = new Set<Promise<unknown>>();
  private acceptingInProcess = true;

  constructor(readonly options: ListenerOptions) {
    cachePeerCertificatesOfHttp2Connections();
    const limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.server = new grpc.Server({
      'grpc.max_receive_message_length': limits.maxReceiveMessageBytes,
      'grpc.max_send_message_length': limits.maxSendMessageBytes,
      'grpc.max_concurrent_streams': limits.maxConcurrentStreams,
      'grpc-node.max_session_memory': limits.maxSessionMemoryMb,
      // Idle phones should not pin server memory forever; connections are recycled now and
      // then so load spreads across replicas after a scale-out.
      'grpc.max_connection_idle_ms': 15 * 60_000,
      'grpc.max_connection_age_ms': 60 * 60_000,
      'grpc.max_connection_age_grace_ms': 30_000,
      'grpc.keepalive_time_ms': 120_000,
      'grpc.keepalive_timeout_ms': 20_000,
      // grpc-js turns SO_REUSEPORT on by default: a second process (a stale instance, a test)
      // could then bind the same address and silently take half the connections. One listener
      // per address; a taken port is an error at start.
      'grpc.so_reuseport': 0,
    });
    this.health.addToServer(this.server);
  }

  /** Shutdown has begun (a stream it cuts ends with OK: the client reconnects elsewhere and resumes). */
  get shuttingDown(): boolean {
    return this.shutdownBegun;
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error(`${this.options.name} listener is not started`);
    return this.boundPort;
  }

  addService(registration: ServiceRegistration): void {
    const implementation: grpc.UntypedServiceImplementation = {};
    for (const [key, definition] of Object.entries(registration.definition)) {
      const policy = registration.policies[key];
      if (!policy) throw new Error(`${definition.path} has no access policy`);
      const handler = registration.handlers[key] as ((...args: never[]) => Promise<unknown>) | undefined;
      if (!handler) this.unimplementedMethods.push(definition.path);
      if (definition.responseStream) {
        implementation[key] = this.serverStreamHandler(definition, policy, handler);
      } else {
        const unary = this.unaryHandler(definition, policy, handler);
        implementation[key] = unary;
        if (!definition.requestStream) this.unaryByPath.set(definition.path, { definition, implementation: unary });
      }
    }
    this.server.addService(registration.definition as unknown as grpc.ServiceDefinition, implementation);
    this.serviceNames.push(registration.name);
  }

  /**
   * Binds and starts taking calls. grpc.health.v1 answers SERVING from then on, unless `serving`
   * is false: then NOT_SERVING until `setServing(true)` (a process with more to start first).
   */
  async start(options: { serving?: boolean } = {}): Promise<number> {
    const { host, port, credentials, descriptorSet } = this.options;
    if (descriptorSet) {
      // Reflection lists only what this listener serves: the mobile listener does not advertise
      // internal services and vice versa. Health is listed too (proto/grpc/health/v1 is in the
      // descriptor set) so `buf curl` and grpcurl, which resolve methods through reflection,
      // can health-check every listener.
      // Built on the first reflection call, not here (lazy-reflection.ts): it cost every start
      // about 0.1 s per listener before the first health answer. The list is fixed now, as before.
      const services = [...new Set([...this.serviceNames, HEALTH_SERVICE, ...(this.options.reflectionAlsoLists ?? [])])];
      addLazyReflection(this.server, () => {
        const packageDefinition = { contract: { fileDescriptorProtos: splitFileDescriptorSet(descriptorSet) } };
        return new ReflectionService(packageDefinition as never, { services });
      });
    }
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(address, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    // TLS from certificate files: connections are dropped until they are read.
    await credentialsLoaded(credentials);
    this.setServing(options.serving ?? true);
    this.options.logger.info(
      { listener: this.options.name, address: `${host}:${this.boundPort}`, services: this.serviceNames.length },
      'listening',
    );
    return this.boundPort;
  }

  /**
   * What grpc.health.v1 reports for the listener and each of its services while it runs: NOT_SERVING
   * while a required dependency is down (the listener still answers, with UNAVAILABLE), so load
   * balancers and orchestrators route around this process until it can serve again.
   */
  setServing(serving: boolean): void {
    if (this.acceptingInProcess === false) return; // shutting down: stays NOT_SERVING
    const state = serving ? 'SERVING' : 'NOT_SERVING';
    for (const name of this.serviceNames) this.health.setStatus(name, state);
    this.health.setStatus('', state);
  }

  /** Stops taking calls, lets running ones finish for up to `graceMs`, then cuts the rest. */
  async shutdown(graceMs = 10_000): Promise<void> {
    for (const name of this.serviceNames) this.health.setStatus(name, 'NOT_SERVING');
    this.health.setStatus('', 'NOT_SERVING');
    this.acceptingInProcess = false;
    this.shutdownBegun = true;
    for (const call of this.running) call.abort();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      const network = new Promise<void>((drained) => this.server.tryShutdown(() => drained()));
      void Promise.all([network, Promise.allSettled([...this.inProcessCalls])]).then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /**
   * The unary method at `path` as a function for callers in this process, or undefined when this
   * listener does not serve it. Such a call goes through everything a network call does here —
   * request id, observer (metrics, server span), access guard, handler, error mapping, one log
   * line — but not through HTTP/2: where every service shares one process (the embedded default,
   * the all-in-one container), an internal hop then costs microseconds of CPU instead of a
   * client and a server HTTP/2 stream. Request and response are copied through their protobuf
   * encoding, so caller and handler never share objects and see exactly what the wire would
   * carry. A call after shutdown began answers UNAVAILABLE, as a draining server does.
   */
  inProcessUnary(path: string): InProcessUnary | undefined {
    const entry = this.unaryByPath.get(path);
    if (!entry) return undefined;
    const { definition, implementation } = entry;
    return (call) => {
      if (!this.acceptingInProcess) {
        return Promise.resolve({
          metadata: new grpc.Metadata(),
          status: {
            code: grpc.status.UNAVAILABLE,
            details: `${this.options.name} listener is shutting down`,
            metadata: new grpc.Metadata(),
          },
        });
      }
      const answered = new Promise<InProcessResult>((resolve) => {
        let responseMetadata = new grpc.Metadata();
        const surface = Object.assign(new EventEmitter(), {
          request: definition.requestDeserialize(definition.requestSerialize(call.request as never)),
          metadata: call.metadata.clone(),
          cancelled: false,
          getPath: () => path,
          getDeadline: () => call.deadline ?? Infinity,
          getPeer: () => IN_PROCESS_PEER,
          // No TLS peer: in-process calls are internal ones, which never look at certificates.
          getAuthContext: () => ({}),
          sendMetadata: (metadata: grpc.Metadata) => {
            responseMetadata = metadata;
          },
        });
        if (call.caller) inProcessCallers.set(surface, call.caller);
        const onAbort = () => {
          surface.cancelled = true;
          surface.emit('cancelled');
        };
        // The caller's signal may outlive the call (a stream's, used for many calls): the
        // listener goes when the call is answered.
        call.signal?.addEventListener('abort', onAbort, { once: true });
        implementation(surface as unknown as grpc.ServerUnaryCall<unknown, unknown>, (error, value) => {
          call.signal?.removeEventListener('abort', onAbort);
          if (error) {
            const status = {
              code: error.code ?? grpc.status.UNKNOWN,
              details: error.details ?? ('message' in error ? error.message : ''),
              metadata: error.metadata ?? new grpc.Metadata(),
            };
            resolve({ metadata: responseMetadata, status });
          } else {
            const response = definition.responseDeserialize(definition.responseSerialize(value as never));
            resolve({
              metadata: responseMetadata,
              status: { code: grpc.status.OK, details: 'OK', metadata: new grpc.Metadata() },
              response,
            });
          }
        });
      });
      this.inProcessCalls.add(answered);
      void answered.finally(() => this.inProcessCalls.delete(answered));
      return answered;
    };
  }

  private unaryHandler(
    definition: MethodDefinitionLike,
    policy: MethodPolicy,
    handler: ((...args: never[]) => Promise<unknown>) | undefined,
  ): grpc.handleUnaryCall<unknown, unknown> {
    return (call, callback) => new UnaryServedCall(this, call, definition, policy, handler, callback).start();
  }

  private serverStreamHandler(
    definition: MethodDefinitionLike,
    policy: MethodPolicy,
    handler: ((...args: never[]) => Promise<unknown>) | undefined,
  ): grpc.handleServerStreamingCall<unknown, unknown> {
    return (call) => new StreamServedCall(this, call, definition, policy, handler).start();
  }
}
