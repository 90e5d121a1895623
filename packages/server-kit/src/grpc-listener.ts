import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { ReflectionService } from '@grpc/reflection';
import { NotImplementedError } from '@kfrm/errors';
import type { Logger } from '@kfrm/logging';
import type { AccessGuard } from './access';
import type { CallContext, MethodDefinitionLike, MethodPolicy, ServiceRegistration } from './define-service';
import { splitFileDescriptorSet } from './descriptor-set';
import { mapError } from './error-mapping';

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

const REQUEST_ID_HEADER = 'x-request-id';
const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

function requestIdOf(metadata: grpc.Metadata): string {
  const given = metadata.get(REQUEST_ID_HEADER)[0];
  return typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID();
}

type SurfaceCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

function deadlineOf(call: SurfaceCall): Date | undefined {
  const deadline = call.getDeadline();
  if (deadline instanceof Date) return deadline;
  return Number.isFinite(deadline) ? new Date(deadline) : undefined;
}

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

  constructor(private readonly options: ListenerOptions) {
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
    });
    this.health.addToServer(this.server);
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
      implementation[key] = definition.responseStream
        ? this.serverStreamHandler(definition, policy, handler)
        : this.unaryHandler(definition, policy, handler);
    }
    this.server.addService(registration.definition as unknown as grpc.ServiceDefinition, implementation);
    this.serviceNames.push(registration.name);
  }

  async start(): Promise<number> {
    const { host, port, credentials, descriptorSet } = this.options;
    if (descriptorSet) {
      // Reflection lists only what this listener serves: the mobile listener does not advertise
      // internal services and vice versa.
      const packageDefinition = { contract: { fileDescriptorProtos: splitFileDescriptorSet(descriptorSet) } };
      new ReflectionService(packageDefinition as never, { services: [...this.serviceNames] }).addToServer(this.server);
    }
    const address = host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
    this.boundPort = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(address, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    for (const name of this.serviceNames) this.health.setStatus(name, 'SERVING');
    this.health.setStatus('', 'SERVING');
    this.options.logger.info({ listener: this.options.name, address: `${host}:${this.boundPort}`, services: this.serviceNames.length }, 'listening');
    return this.boundPort;
  }

  /** Stops taking calls, lets running ones finish for up to `graceMs`, then cuts the rest. */
  async shutdown(graceMs = 10_000): Promise<void> {
    for (const name of this.serviceNames) this.health.setStatus(name, 'NOT_SERVING');
    this.health.setStatus('', 'NOT_SERVING');
    this.shutdownController.abort();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      timer.unref();
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Sets up a call's context: request id, logger, cancellation (client, deadline, shutdown), access. */
  private async prepareCall(call: SurfaceCall, policy: MethodPolicy, requestId: string, logger: Logger) {
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
    };
    try {
      const peer = call.getAuthContext?.()?.sslPeerCertificate?.raw;
      const principal = await this.options.guard.authorize(policy.access, {
        metadata: call.metadata,
        peerCertificateDer: peer ? new Uint8Array(peer) : undefined,
      });
      const ctx: CallContext = {
        requestId,
        method: call.getPath(),
        logger,
        metadata: call.metadata,
        principal,
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
  ): void {
    const started = process.hrtime.bigint();
    const elapsedMs = () => Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10;
    const requestId = requestIdOf(call.metadata);
    const observation = this.options.observer?.start({ path: definition.path, requestId, metadata: call.metadata });
    const logger = this.options.logger.child({
      listener: this.options.name,
      request_id: requestId,
      ...observation?.logFields,
      method: definition.path,
    });
    const responseMetadata = new grpc.Metadata();
    responseMetadata.set(REQUEST_ID_HEADER, requestId);
    call.sendMetadata(responseMetadata);
    let cleanup: (() => void) | undefined;
    const work = () =>
      this.prepareCall(call, policy, requestId, logger)
        .then((prepared) => {
          cleanup = prepared.cleanup;
          if (!handler) throw new NotImplementedError(`${definition.path} is not implemented yet`);
          return invoke(prepared.ctx);
        })
        .then(
          (result) => {
            logger.info({ code: 'OK', duration_ms: elapsedMs() }, 'call done');
            observation?.end(grpc.status.OK, 'OK');
            finish(null, result);
          },
          (err: unknown) => {
            const mapped = mapError(err, policy.errors);
            const fields = { code: grpc.status[mapped.error.code], duration_ms: elapsedMs() };
            if (mapped.unexpected) logger.error({ ...fields, err }, 'call failed');
            else logger.info({ ...fields, reason: mapped.error.details }, 'call rejected');
            observation?.end(mapped.error.code, fields.code);
            finish(mapped.error);
          },
        )
        .finally(() => cleanup?.());
    if (observation) void observation.run(work);
    else void work();
  }

  private unaryHandler(definition: MethodDefinitionLike, policy: MethodPolicy, handler: ((...args: never[]) => Promise<unknown>) | undefined) {
    return (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      this.serve(
        call,
        definition,
        policy,
        handler,
        (ctx) => (handler as (req: unknown, ctx: CallContext) => Promise<unknown>)(call.request, ctx),
        (error, result) => (error ? callback(error) : callback(null, result)),
      );
    };
  }

  private serverStreamHandler(definition: MethodDefinitionLike, policy: MethodPolicy, handler: ((...args: never[]) => Promise<unknown>) | undefined) {
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
      );
    };
  }
}
