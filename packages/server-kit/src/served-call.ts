/**
 * One call as a GrpcListener serves it: request id, context, access check, handler, one log
 * line, error mapping, audit. A class, not a chain of closures: a notification stream is held
 * open for hours, and what each call keeps while it waits is most of a replica's memory with
 * 10,000 streams open (docs/performance.md, "Notification fan-out"). Its state lives in fields
 * of one object and its steps are methods on the prototype.
 */
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { DependencyUnavailableError, DomainError, NotImplementedError } from '@kfrm/errors';
import type { Logger } from '@kfrm/logging';
import type { Principal } from './access';
import { auditRecordOf, type AuditRecord } from './call-audit';
import { peerClientAddress } from './client-address-source';
import { peerClientCertificate } from './client-certificate-source';
import type { CallContext, CallEndWatcher, MethodDefinitionLike, MethodPolicy, StreamWriter } from './define-service';
import { mapError } from './error-mapping';
import type { CallObservation, ListenerOptions } from './grpc-listener';
import { IDEMPOTENCY_KEY_HEADER, runIdempotent } from './idempotency';
import { ApprovalPendingError } from './operator-approval';

export const REQUEST_ID_HEADER = 'x-request-id';
/** The peer of calls made in this process; a network peer is always an address (ip:port). */
export const IN_PROCESS_PEER = 'in-process';
const SAFE_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;
/** The calling service of each in-process call, by its call object: out of reach of any header. */
export const inProcessCallers = new WeakMap<object, string>();

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
  if (typeof given === 'string' && SAFE_REQUEST_ID.test(given)) return given;
  const id = randomUUID();
  // Node builds the UUID from 20 concatenated pieces: a rope of ≈ 0.6 KB that a stream would
  // keep for its whole life. Matching it against a regular expression flattens it in place.
  SAFE_REQUEST_ID.test(id);
  return id;
}

/** A gRPC deadline (Date, ms since the epoch, or Infinity for none) as a Date, or undefined for none. */
export function deadlineToDate(deadline: grpc.Deadline | undefined): Date | undefined {
  if (deadline === undefined) return undefined;
  if (deadline instanceof Date) return deadline;
  return Number.isFinite(deadline) ? new Date(deadline) : undefined;
}

export type SurfaceCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;
type Handler = (...args: never[]) => Promise<unknown>;
type MappedError = ReturnType<typeof mapError>['error'];

/** What a served call needs of its listener. */
export interface ServingListener {
  readonly options: ListenerOptions;
  /** Calls running now: shutdown aborts them (a stream held open would otherwise never end). */
  readonly running: Set<ServedCall>;
  /** Shutdown has begun: a stream it cuts ends with OK (the client reconnects elsewhere and resumes). */
  readonly shuttingDown: boolean;
}

/** The served call of each call grpc-js reports cancelled (see {@link onCallCancelled}). */
const servedByCall = new WeakMap<object, ServedCall>();

/**
 * The 'cancelled' listener of every served call: one function for all, called with the call as
 * `this` (EventEmitter's contract), instead of a closure per call kept for the call's life.
 */
function onCallCancelled(this: object): void {
  servedByCall.get(this)?.abort();
}

const abortServed = (served: ServedCall) => served.abort();

/**
 * Serves one call: {@link start} is called by the listener's method implementation. Subclasses
 * say how the handler is invoked and how its outcome reaches grpc-js. The call is also the
 * handler's CallContext (one object per call, one shape for all of them: an object literal with
 * a getter was kept in dictionary mode, ≈ 0.45 KB per open stream), with the logger made only
 * when something logs.
 */
export abstract class ServedCall implements CallContext {
  readonly requestId: string;
  /** Set once access is granted (before the handler runs). */
  principal!: Principal;
  clientAddress = '';
  deadline: Date | undefined;
  private readonly started = performance.now();
  private readonly observation: CallObservation | undefined;
  private callLogger: Logger | undefined;
  private headersSent = false;
  /** Made when the handler first reads `signal` (see there). */
  private controller: AbortController | undefined;
  /** The client cancelled, the deadline passed or the listener shuts down. */
  protected callEnded = false;
  private timer: NodeJS.Timeout | undefined;
  private audited: Omit<AuditRecord, 'outcome'> | undefined;

  constructor(
    protected readonly listener: ServingListener,
    readonly call: SurfaceCall,
    readonly definition: MethodDefinitionLike,
    protected readonly policy: MethodPolicy,
    protected readonly handler: Handler | undefined,
  ) {
    this.requestId = requestIdOf(call.metadata);
    this.observation = listener.options.observer?.start({ path: definition.path, requestId: this.requestId, metadata: call.metadata });
  }

  get method(): string {
    return this.definition.path;
  }

  get metadata(): grpc.Metadata {
    return this.call.metadata;
  }

  /**
   * Made on first use: most handlers never read it, and an AbortController costs about a
   * microsecond to make and ≈ 0.6 KB while the call lasts (a stream's, for hours: streams watch
   * their end through the writer instead, see StreamWriter.watchEnd). Read after the call ended,
   * it is already aborted.
   */
  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.callEnded) this.controller.abort();
    }
    return this.controller.signal;
  }

  /** A server stream (open for as long as its client stays). */
  protected abstract get streaming(): boolean;
  /** The handler ran (or was refused) and its outcome must reach the client. */
  protected abstract invoke(ctx: CallContext): Promise<unknown>;
  protected abstract finish(error: MappedError | null, result?: unknown): void;

  /** Serves the call; never rejects. */
  start(): void {
    void this.run();
  }

  /** In the observer's context (its span, the request id) when there is one. */
  private observed<T>(fn: () => T): T {
    return this.observation ? this.observation.run(fn) : fn();
  }

  /** Ends the call's signal: the client cancelled, its deadline passed or the listener shuts down. */
  abort(): void {
    if (this.callEnded) return;
    this.callEnded = true;
    this.controller?.abort();
    this.onEnded();
  }

  /** The call just ended (after `signal` aborted). */
  protected onEnded(): void {}

  /**
   * The call's child logger, made when something first logs: a stream held open for hours would
   * otherwise keep one (≈ 0.7 KB) for its whole life without using it until its end.
   */
  get logger(): Logger {
    this.callLogger ??= this.listener.options.logger.child({
      listener: this.listener.options.name,
      request_id: this.requestId,
      ...this.observation?.logFields,
      method: this.definition.path,
    });
    return this.callLogger;
  }

  /**
   * Whether the listener's level keeps info lines. Asked before "call done" and "call rejected",
   * so that at `warn` a call does not make its child logger (≈ 2 % of the allocated bytes of a
   * transfer) only for pino to drop the line.
   */
  private logsInfo(): boolean {
    return this.listener.options.logger.isLevelEnabled('info');
  }

  /**
   * The response headers (the request id), once. A unary call's leave with its answer (sent
   * before, they would go in a write of their own while the handler waits on the database). A
   * stream's leave once access is granted, before the handler runs: the client learns the stream
   * is open, and the first event does not pay for them. Sent lazily with the first event instead
   * (as grpc-js does by itself), an idle stream kept ≈ 0.5 KB less, but delivering a burst of
   * first events to 10,000 streams cost 12 % more CPU and p99 lag went 112 → 165–209 ms
   * (bench/fanout.ts, docs/performance.md).
   */
  sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    const headers = new grpc.Metadata();
    headers.set(REQUEST_ID_HEADER, this.requestId);
    this.call.sendMetadata(headers);
  }

  private elapsedMs(): number {
    return Math.round((performance.now() - this.started) * 10) / 10;
  }

  /**
   * Access, then the handler; its outcome is settled by {@link settle}. The handler's promise is
   * not awaited here but given its reactions: a stream's handler is pending for hours, and an
   * awaiting async function would keep its suspended frame (≈ 0.25 KB) for as long. Neither this
   * function nor the reactions run inside the observer's context, so they keep none of it.
   */
  private async run(): Promise<void> {
    let invoked: Promise<unknown>;
    try {
      const ctx = await this.observed(() => this.authorize());
      // A stream's observer lets go of its span before the handler runs (streamOpened).
      if (this.streaming) this.observation?.streamOpened?.();
      invoked = this.observed(() => this.invoke(ctx));
    } catch (err) {
      return this.settle(true, err);
    }
    void invoked.then(
      (result) => this.settle(false, result),
      (err: unknown) => this.settle(true, err),
    );
  }

  /** The outcome's bookkeeping (audit, log line, metrics), the answer, then cleanup. */
  private async settle(failed: boolean, outcome: unknown): Promise<void> {
    try {
      if (failed) await this.observed(() => this.failed(outcome));
      else await this.observed(() => this.succeeded(outcome));
    } finally {
      this.cleanup();
    }
  }

  /** The context once access is granted, the audit row written and no approval is needed. */
  private async authorize(): Promise<CallContext> {
    const ctx = await this.prepare();
    const { policy, definition, call } = this;
    const options = this.listener.options;
    if (!this.handler) throw new NotImplementedError(`${definition.path} is not implemented yet`);
    const audited = options.audit ? auditRecordOf(policy.audit, call.request, ctx.principal) : undefined;
    this.audited = audited;
    // An operator's act is on record before it happens: if the log cannot take the row,
    // the act does not happen (UNAVAILABLE, the operator retries).
    if (audited && ctx.principal.operator) {
      await options.audit!.append({ ...audited, outcome: 'requested' }).catch((err: unknown) => {
        throw new DependencyUnavailableError('audit log unavailable', { cause: err });
      });
    }
    const operator = ctx.principal.operator;
    if (operator && policy.approval?.required(call.request as never)) {
      if (!options.approvals) throw new DependencyUnavailableError('no approval desk: the call needs a second operator');
      const id = await options.approvals.submit({
        method: definition.path,
        request: definition.requestSerialize(call.request as never),
        maker: operator.subject,
        roles: policy.operator ?? [],
        target: audited?.target ?? '',
        detail: audited?.detail ?? {},
      });
      throw new ApprovalPendingError(id);
    }
    return ctx;
  }

  /** Sets up the call's context: cancellation (client, deadline, shutdown), then access. */
  private async prepare(): Promise<CallContext> {
    const { call, listener } = this;
    const options = listener.options;
    servedByCall.set(call, this);
    call.on('cancelled', onCallCancelled);
    listener.running.add(this);
    const deadline = deadlineToDate(call.getDeadline());
    this.deadline = deadline;
    if (deadline) {
      this.timer = setTimeout(abortServed, Math.max(0, deadline.getTime() - Date.now()), this);
      this.timer.unref();
    }
    const source = options.clientCertificate ?? peerClientCertificate;
    // grpc-js reports a peer certificate only when the TLS layer verified it against our CA.
    const peer = call.getAuthContext?.()?.sslPeerCertificate;
    const peerCertificateDer = source({ metadata: call.metadata, peer });
    const inProcess = call.getPeer() === IN_PROCESS_PEER;
    const principal = await options.guard.authorize(
      this.policy.access,
      {
        metadata: call.metadata,
        peerCertificateDer,
        inProcess,
        inProcessCaller: inProcess ? inProcessCallers.get(call) : undefined,
        peerUris: uriSans(peer?.subjectaltname),
      },
      { path: call.getPath(), operatorRoles: this.policy.operator, callers: this.policy.callers },
    );
    this.clientAddress = inProcess
      ? IN_PROCESS_PEER
      : (options.clientAddress ?? peerClientAddress)({ metadata: call.metadata, peerAddress: addressWithoutPort(call.getPeer()) });
    this.principal = principal;
    return this;
  }

  private cleanup(): void {
    if (this.timer) clearTimeout(this.timer);
    this.listener.running.delete(this);
    // grpc-js reports a finished call's closed stream as 'cancelled' too: without this, every
    // call would abort its (already finished) signal, building a DOMException for nobody.
    this.call.off('cancelled', onCallCancelled);
  }

  private async succeeded(result: unknown): Promise<void> {
    if (this.audited) await this.recordOutcome(this.audited, 'ok');
    if (this.logsInfo()) this.logger.info({ code: 'OK', duration_ms: this.elapsedMs() }, 'call done');
    this.observation?.end(grpc.status.OK, 'OK');
    this.sendHeaders();
    this.finish(null, result);
  }

  private async failed(err: unknown): Promise<void> {
    const mapped = mapError(err, this.policy.errors);
    const fields = { code: grpc.status[mapped.error.code], duration_ms: this.elapsedMs() };
    const audited = this.audited;
    if (audited) {
      if (err instanceof ApprovalPendingError) {
        await this.recordOutcome({ ...audited, detail: { ...audited.detail, approval_id: err.approvalId } }, 'pending');
      } else {
        const outcome = err instanceof DomainError ? `${fields.code}:${err.code}` : (fields.code ?? 'UNKNOWN');
        await this.recordOutcome(audited, outcome);
      }
    }
    if (mapped.unexpected) this.logger.error({ ...fields, err }, 'call failed');
    else if (this.logsInfo()) this.logger.info({ ...fields, reason: mapped.error.details }, 'call rejected');
    this.observation?.end(mapped.error.code, fields.code);
    this.sendHeaders();
    this.finish(mapped.error);
  }

  /**
   * The outcome row of an audited call. The act is done (or refused) whatever happens here, so a
   * failure is logged (with the record: ids and codes only) rather than changing the answer.
   */
  private async recordOutcome(audited: Omit<AuditRecord, 'outcome'>, outcome: string): Promise<void> {
    try {
      await this.listener.options.audit!.append({ ...audited, outcome });
    } catch (err) {
      this.logger.error({ err, audit: { ...audited, outcome } }, 'audit append failed');
    }
  }
}

/** A unary call: the handler's answer (or the idempotency record's) goes to grpc-js's callback. */
export class UnaryServedCall extends ServedCall {
  constructor(
    listener: ServingListener,
    override readonly call: grpc.ServerUnaryCall<unknown, unknown>,
    definition: MethodDefinitionLike,
    policy: MethodPolicy,
    handler: Handler | undefined,
    private readonly callback: grpc.sendUnaryData<unknown>,
  ) {
    super(listener, call, definition, policy, handler);
  }

  protected get streaming(): boolean {
    return false;
  }

  protected invoke(ctx: CallContext): Promise<unknown> {
    const { call, definition, policy } = this;
    const run = () => (this.handler as (req: unknown, ctx: CallContext) => Promise<unknown>)(call.request, ctx);
    const idempotency = this.listener.options.idempotency;
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
  }

  protected finish(error: MappedError | null, result?: unknown): void {
    if (error) this.callback(error);
    else this.callback(null, result);
  }
}

/**
 * A server-streaming call: the handler writes until it returns or the call ends. The call is also
 * the handler's writer (back-pressure and the call's life respected).
 */
export class StreamServedCall extends ServedCall implements StreamWriter<unknown> {
  private endWatcher: CallEndWatcher | undefined;

  constructor(
    listener: ServingListener,
    override readonly call: grpc.ServerWritableStream<unknown, unknown>,
    definition: MethodDefinitionLike,
    policy: MethodPolicy,
    handler: Handler | undefined,
  ) {
    super(listener, call, definition, policy, handler);
  }

  protected get streaming(): boolean {
    return true;
  }

  get ended(): boolean {
    return this.callEnded;
  }

  watchEnd(watcher: CallEndWatcher | undefined): void {
    this.endWatcher = watcher;
  }

  protected override onEnded(): void {
    const watcher = this.endWatcher;
    this.endWatcher = undefined;
    watcher?.callEnded();
  }

  write(message: unknown): Promise<void> {
    const { call } = this;
    return new Promise<void>((resolve, reject) => {
      if (this.callEnded) return reject(this.signal.reason ?? new Error('call ended'));
      if (call.write(message)) return resolve();
      // The client is slow: wait for the transport to drain instead of buffering.
      const signal = this.signal;
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
    });
  }

  protected invoke(ctx: CallContext): Promise<unknown> {
    this.sendHeaders();
    return (this.handler as (req: unknown, ctx: CallContext, w: StreamWriter<unknown>) => Promise<void>)(this.call.request, ctx, this);
  }

  protected finish(error: MappedError | null): void {
    const call = this.call;
    if (call.cancelled) return;
    // A stream cut by shutdown ends with OK: the client reconnects elsewhere and resumes.
    if (!error || this.listener.shuttingDown) call.end();
    else call.emit('error', error);
  }
}
