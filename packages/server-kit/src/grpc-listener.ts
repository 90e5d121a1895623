import { randomUUID } from 'node:crypto';
import { EventEmitter, setMaxListeners } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { DependencyUnavailableError, DomainError, NotImplementedError } from '@kfrm/errors';
import type { Logger } from '@kfrm/logging';
import type { AccessGuard } from './access';
import { auditRecordOf, type AuditRecord, type CallAuditSink } from './call-audit';
import { ApprovalPendingError, type ApprovalDesk } from './operator-approval';
import { peerClientAddress, type ClientAddressSource } from './client-address-source';
import { peerClientCertificate, type ClientCertificateSource } from './client-certificate-source';
import { credentialsLoaded } from './credentials';
import type { CallContext, MethodDefinitionLike, MethodPolicy, ServiceRegistration } from './define-service';
import { splitFileDescriptorSet } from './descriptor-set';
import { mapError } from './error-mapping';
import { IDEMPOTENCY_KEY_HEADER, runIdempotent, type IdempotencyOptions } from './idempotency';
import { cachePeerCertificatesOfHttp2Connections } from './peer-certificate-cache';
import { addLazyReflection } from './lazy-reflection';

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
 * Told about every call `serve()` handles. `start` runs before the access check; `run` wraps the
 * guard and the handler (so the observer's context, e.g. the active span, covers both); `end`
 * gets the final status once.
 */
export interface CallObserver {
  start(call: { path: string; requestId: string; metadata: grpc.Metadata }): CallObservation;
}
export interface CallObservation {
  /** Extra fields for the call's logger, e.g. trace_id and span_id. */
  logFields: Record<string, string>;
  run<T>(fn: () => T): T;
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

const REQUEST_ID_HEADER = 'x-request-id';
/** The peer of calls made in this process; a network peer is always an address (ip:port). */
const IN_PROCESS_PEER = 'in-process';
const HEALTH_SERVICE = 'grpc.health.v1.Health';
const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** The calling service of each in-process call, by its call object: out of reach of any header. */
const inProcessCallers = new WeakMap<object, string>();

/** The URI SANs in Node's `subjectaltname` string (`DNS:a, URI:spiffe://…, IP Address:…`). */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName
    .split(', ')
    .filter((name) => name.startsWith('URI:'))
    .map((name) => name.slice(4));
}

/**
 * grpc-js reports a peer as `host:port`, with IPv6 hosts in brackets (`[::1]:5000`); a peer
 * that is neither (a unix socket path) is kept whole.
 */
export function addressWithoutPort(peer: string): string {
  const bracketed = /^\[([^\]]+)\]:\d+$/.exec(peer);
  if (bracketed) return bracketed[1]!;
  const plain = /^([^:]+):\d+$/.exec(peer);
  return plain ? plain[1]! : peer;
}

function requestIdOf(metadata: grpc.Metadata): string {
  const given = metadata.get(REQUEST_ID_HEADER)[0];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}

type SurfaceCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

/** A gRPC deadline (Date, ms since the epoch, or Infinity for none) as a Date, or undefined for none. */
export function deadlineToDate(deadline: grpc.Deadline | undefined): Date | undefined {
  if (deadline === undefined) return undefined;
  if (deadline instanceof Date) return deadline;
  return Number.isFinite(deadline) ? new Date(deadline) : undefined;
}

const deadlineOf = (call: SurfaceCall): Date | undefined => deadlineToDate(call.getDeadline());

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
  /** Aborted at shutdown so long-lived streams end cleanly. */
  private readonly shutdownController = new AbortController();
  private boundPort: number | undefined;
  /** Unary methods by full path, for calls made from this process (see {@link inProcessUnary}). */
  private readonly unaryByPath = new Map<
    string,
    { definition: MethodDefinitionLike; implementation: grpc.handleUnaryCall<unknown, unknown> }
  >();
  /** In-process calls not yet answered; shutdown waits for them like for network calls. */
  private readonly inProcessCalls = new Set<Promise<unknown>>();
  private acceptingInProcess = true;

  constructor(private readonly options: ListenerOptions) {
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
    // Every running call listens for shutdown (and removes itself when done): many at once is
    // normal, not a leak, so Node's warning past 10 listeners would only be noise.
    setMaxListeners(0, this.shutdownController.signal);
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

  async start(): Promise<number> {
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
    for (const name of this.serviceNames) this.health.setStatus(name, 'SERVING');
    this.health.setStatus('', 'SERVING');
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
    this.shutdownController.abort();
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
        call.signal?.addEventListener(
          'abort',
          () => {
            surface.cancelled = true;
            surface.emit('cancelled');
          },
          { once: true },
        );
        implementation(surface as unknown as grpc.ServerUnaryCall<unknown, unknown>, (error, value) => {
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

  /** Sets up a call's context: request id, logger, cancellation (client, deadline, shutdown), access. */
  private async prepareCall(call: SurfaceCall, policy: MethodPolicy, requestId: string, logger: () => Logger) {
    const controller = new AbortController();
    const abort = () => controller.abort();
    call.on('cancelled', abort);
    this.shutdownController.signal.addEventListener('abort', abort, { once: true });
    const deadline = deadlineOf(call);
    const timer = deadline ? setTimeout(abort, Math.max(0, deadline.getTime() - Date.now())) : undefined;
    timer?.unref();
    const cleanup = () => {
      if (timer) clearTimeout(timer);
      this.shutdownController.signal.removeEventListener('abort', abort);
      // grpc-js reports a finished call's closed stream as 'cancelled' too: without this, every
      // call would abort its (already finished) signal, building a DOMException for nobody.
      call.off('cancelled', abort);
    };
    try {
      const source = this.options.clientCertificate ?? peerClientCertificate;
      // grpc-js reports a peer certificate only when the TLS layer verified it against our CA.
      const peer = call.getAuthContext?.()?.sslPeerCertificate;
      const peerCertificateDer = source({ metadata: call.metadata, peer });
      const inProcess = call.getPeer() === IN_PROCESS_PEER;
      const principal = await this.options.guard.authorize(
        policy.access,
        {
          metadata: call.metadata,
          peerCertificateDer,
          inProcess,
          inProcessCaller: inProcess ? inProcessCallers.get(call) : undefined,
          peerUris: uriSans(peer?.subjectaltname),
        },
        { path: call.getPath(), operatorRoles: policy.operator, callers: policy.callers },
      );
      const ctx: CallContext = {
        requestId,
        method: call.getPath(),
        get logger() {
          return logger();
        },
        metadata: call.metadata,
        principal,
        clientAddress: inProcess
          ? IN_PROCESS_PEER
          : (this.options.clientAddress ?? peerClientAddress)({ metadata: call.metadata, peerAddress: addressWithoutPort(call.getPeer()) }),
        signal: controller.signal,
        deadline,
      };
      return { ctx, cleanup };
    } catch (err) {
      cleanup();
      throw err;
    }
  }

  /**
   * What unary and streaming calls share: the request id echoed to the client, the context,
   * UNIMPLEMENTED for a method without a handler, one log line per call and the error mapping.
   */
  private serve(
    call: SurfaceCall,
    definition: MethodDefinitionLike,
    policy: MethodPolicy,
    handler: ((...args: never[]) => Promise<unknown>) | undefined,
    invoke: (ctx: CallContext) => Promise<unknown>,
    finish: (error: ReturnType<typeof mapError>['error'] | null, result?: unknown) => void,
    headersFirst: boolean,
  ): void {
    const started = process.hrtime.bigint();
    const elapsedMs = () => Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;
    const requestId = requestIdOf(call.metadata);
    const observation = this.options.observer?.start({ path: definition.path, requestId, metadata: call.metadata });
    // The call's child logger is made when something first logs: a stream held open for hours
    // would otherwise keep one (≈ 0.7 KB) for its whole life without using it until its end.
    let callLogger: Logger | undefined;
    const logger = () =>
      (callLogger ??= this.options.logger.child({
        listener: this.options.name,
        request_id: requestId,
        ...observation?.logFields,
        method: definition.path,
      }));
    const responseMetadata = new grpc.Metadata();
    responseMetadata.set(REQUEST_ID_HEADER, requestId);
    // A stream's headers go out at once (the client learns the stream is open). A unary call's
    // go out with its answer: sent here, they would leave in a write of their own while the
    // handler waits on the database: one more write (and TLS record) per call.
    let headersSent = false;
    const sendHeaders = () => {
      if (headersSent) return;
      headersSent = true;
      call.sendMetadata(responseMetadata);
    };
    if (headersFirst) sendHeaders();
    let cleanup: (() => void) | undefined;
    let audited: Omit<AuditRecord, 'outcome'> | undefined;
    const work = () =>
      this.prepareCall(call, policy, requestId, logger)
        .then(async (prepared) => {
          cleanup = prepared.cleanup;
          if (!handler) throw new NotImplementedError(`${definition.path} is not implemented yet`);
          audited = this.options.audit ? auditRecordOf(policy.audit, call.request, prepared.ctx.principal) : undefined;
          // An operator's act is on record before it happens: if the log cannot take the row,
          // the act does not happen (UNAVAILABLE, the operator retries).
          if (audited && prepared.ctx.principal.operator) {
            await this.options.audit!.append({ ...audited, outcome: 'requested' }).catch((err: unknown) => {
              throw new DependencyUnavailableError('audit log unavailable', { cause: err });
            });
          }
          const operator = prepared.ctx.principal.operator;
          if (operator && policy.approval?.required(call.request as never)) {
            if (!this.options.approvals) throw new DependencyUnavailableError('no approval desk: the call needs a second operator');
            const id = await this.options.approvals.submit({
              method: definition.path,
              request: definition.requestSerialize(call.request as never),
              maker: operator.subject,
              roles: policy.operator ?? [],
              target: audited?.target ?? '',
              detail: audited?.detail ?? {},
            });
            throw new ApprovalPendingError(id);
          }
          return invoke(prepared.ctx);
        })
        .then(
          async (result) => {
            if (audited) await this.recordOutcome(audited, 'ok', logger());
            logger().info({ code: 'OK', duration_ms: elapsedMs() }, 'call done');
            observation?.end(grpc.status.OK, 'OK');
            sendHeaders();
            finish(null, result);
          },
          async (err: unknown) => {
            const mapped = mapError(err, policy.errors);
            const fields = { code: grpc.status[mapped.error.code], duration_ms: elapsedMs() };
            if (audited) {
              if (err instanceof ApprovalPendingError) {
                await this.recordOutcome({ ...audited, detail: { ...audited.detail, approval_id: err.approvalId } }, 'pending', logger());
              } else {
                const outcome = err instanceof DomainError ? `${fields.code}:${err.code}` : (fields.code ?? 'UNKNOWN');
                await this.recordOutcome(audited, outcome, logger());
              }
            }
            if (mapped.unexpected) logger().error({ ...fields, err }, 'call failed');
            else logger().info({ ...fields, reason: mapped.error.details }, 'call rejected');
            observation?.end(mapped.error.code, fields.code);
            sendHeaders();
            finish(mapped.error);
          },
        )
        .finally(() => cleanup?.());
    if (observation) void observation.run(work);
    else void work();
  }

  /**
   * The outcome row of an audited call. The act is done (or refused) whatever happens here, so a
   * failure is logged (with the record: ids and codes only) rather than changing the answer.
   */
  private async recordOutcome(audited: Omit<AuditRecord, 'outcome'>, outcome: string, logger: Logger): Promise<void> {
    try {
      await this.options.audit!.append({ ...audited, outcome });
    } catch (err) {
      logger.error({ err, audit: { ...audited, outcome } }, 'audit append failed');
    }
  }

  private unaryHandler(
    definition: MethodDefinitionLike,
    policy: MethodPolicy,
    handler: ((...args: never[]) => Promise<unknown>) | undefined,
  ) {
    return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      this.serve(
        call,
        definition,
        policy,
        handler,
        (ctx) => {
          const run = () => (handler as (req: unknown, ctx: CallContext) => Promise<unknown>)(call.request, ctx);
          const idempotency = this.options.idempotency;
          if (!idempotency || !policy.idempotent) return run();
          return runIdempotent(
            idempotency,
            {
              keys: ctx.metadata.get(IDEMPOTENCY_KEY_HEADER),
              principal: ctx.principal,
              method: definition.path,
              requestBytes: definition.requestSerialize(call.request as never),
              serialize: (response) => definition.responseSerialize(response as never),
              deserialize: (bytes) => definition.responseDeserialize(bytes),
              signal: ctx.signal,
              onEvent: (event, err) =>
                event === 'store-write-failed'
                  ? ctx.logger.error({ err }, 'idempotency record not settled')
                  : ctx.logger.info({ idempotency: event }, 'idempotent call'),
            },
            run,
          );
        },
        (error, result) => (error ? callback(error) : callback(null, result)),
        false,
      );
    };
  }

  private serverStreamHandler(
    definition: MethodDefinitionLike,
    policy: MethodPolicy,
    handler: ((...args: never[]) => Promise<unknown>) | undefined,
  ) {
    return (call: grpc.ServerWritableStream<unknown, unknown>) => {
      this.serve(
        call,
        definition,
        policy,
        handler,
        (ctx) => {
          const signal = ctx.signal;
          const writer = {
            write: (message: unknown) =>
              new Promise<void>((resolve, reject) => {
                if (signal.aborted) return reject(signal.reason ?? new Error('call ended'));
                if (call.write(message)) return resolve();
                // The client is slow: wait for the transport to drain instead of buffering.
                const onDrain = () => {
                  signal.removeEventListener('abort', onAbort);
                  resolve();
                };
                const onAbort = () => {
                  call.off('drain', onDrain);
                  reject(signal.reason ?? new Error('call ended'));
                };
                call.once('drain', onDrain);
                signal.addEventListener('abort', onAbort, { once: true });
              }),
          };
          return (handler as (req: unknown, ctx: CallContext, w: typeof writer) => Promise<void>)(call.request, ctx, writer);
        },
        (error) => {
          if (call.cancelled) return;
          // A stream cut by shutdown ends with OK: the client reconnects elsewhere and resumes.
          if (!error || this.shutdownController.signal.aborted) call.end();
          else call.emit('error', error);
        },
        true,
      );
    };
  }
}
