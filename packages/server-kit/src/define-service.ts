import type { Metadata } from '@grpc/grpc-js';
import type { CommonCode, SeedCode } from '@kfrm/errors';
import type { Logger } from '@kfrm/logging';
import type { AccessLevel, Principal } from './access';
import type { ApiErrorType } from './api-error-type';
import type { AuditPolicy } from './call-audit';
import type { OperatorRole } from './operator-access';
import type { ApprovalPolicy } from './operator-approval';

/** What every handler gets besides its request. */
export interface CallContext {
  requestId: string;
  /** Full method path, e.g. /kfrm.api.key.KeyService/GetKey. */
  method: string;
  logger: Logger;
  metadata: Metadata;
  principal: Principal;
  /**
   * The caller's network address without the port (e.g. `203.0.113.7`, `::1`), for limits per
   * caller on public methods; `in-process` for calls made inside this process.
   */
  clientAddress: string;
  /** Aborted when the client cancels, the deadline passes or the server shuts down. */
  signal: AbortSignal;
  deadline?: Date;
}

/** Told when a stream's call ends (see {@link StreamWriter.watchEnd}). */
export interface CallEndWatcher {
  callEnded(): void;
}

/** A server-stream writer that respects back-pressure and the call's life. */
export interface StreamWriter<Res> {
  /** Resolves once the message is handed to the transport (waits while the client is slow). */
  write(message: Res): Promise<void>;
  /** The call has ended: the client cancelled, the deadline passed or the server shuts down (what aborts ctx.signal). */
  readonly ended: boolean;
  /**
   * Tells `watcher` once when the call ends (not if it already has: look at {@link ended});
   * a later watcher, or undefined, replaces it. What ctx.signal tells, for a stream held open for
   * hours: the call's AbortController is made when ctx.signal is first read, and it and a listener
   * on its signal keep ≈ 0.6 KB for the call's life, where this keeps one reference.
   */
  watchEnd(watcher: CallEndWatcher | undefined): void;
}

export type UnaryHandler<Req, Res> = (request: Req, ctx: CallContext) => Promise<Res>;
export type ServerStreamHandler<Req, Res> = (request: Req, ctx: CallContext, stream: StreamWriter<Res>) => Promise<void>;

/** The shape ts-proto generates for a grpc-js method definition. */
export interface MethodDefinitionLike {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: never) => Buffer;
  requestDeserialize: (bytes: Buffer) => unknown;
  responseSerialize: (value: never) => Buffer;
  responseDeserialize: (bytes: Buffer) => unknown;
}
export type ServiceDefinitionLike = Record<string, MethodDefinitionLike>;

type RequestOf<M> = M extends { requestDeserialize: (bytes: Buffer) => infer R } ? R : never;
type ResponseOf<M> = M extends { responseDeserialize: (bytes: Buffer) => infer R } ? R : never;

export type HandlersOf<D extends ServiceDefinitionLike> = {
  [K in keyof D]?: D[K]['responseStream'] extends true
    ? ServerStreamHandler<RequestOf<D[K]>, ResponseOf<D[K]>>
    : UnaryHandler<RequestOf<D[K]>, ResponseOf<D[K]>>;
};

declare const raisedCodes: unique symbol;

/** A type-only witness of the seed codes a handler can raise: see {@link raises}. */
export interface Raises<Code extends SeedCode> {
  readonly [raisedCodes]?: Code;
}

/**
 * What a method's handler can raise: the union of the codes of the use cases it calls (each use
 * case exports its union, e.g. `ExecuteCode`). `defineService` then fails to compile when one of
 * them is neither in the method's ApiError enum nor in CommonApiError, which at run time would
 * reach the client as INTERNAL.
 */
export function raises<Code extends SeedCode = never>(): Raises<NoInfer<Code>> {
  return {};
}

export interface MethodPolicy<Req = never> {
  access: AccessLevel;
  /**
   * Every call is a security event written to the audit log (call-audit.ts): by whom, what, on
   * what, how it ended. Operator calls are recorded before the handler runs too: no audit row,
   * no operator action.
   */
  audit?: AuditPolicy<Req>;
  /** When an operator's call needs a second operator's approval (operator-approval.ts). */
  approval?: ApprovalPolicy<Req>;
  /**
   * `internal` methods only: the operator roles that may call it with a bearer token, besides
   * the services (operator-access.ts). Absent: a service-to-service method only.
   */
  operator?: readonly OperatorRole[];
  /**
   * A mutating unary method the app may retry: with an `idempotency-key` in the metadata, a retry
   * answers the first call's answer and runs nothing (idempotency.ts, docs/idempotency.md).
   * Reads leave it unset and cost no store round trip.
   */
  idempotent?: boolean;
  /**
   * `internal` methods only: the services that may call it (their names, as in their internal
   * certificates' `spiffe://kfrm/service/<name>`; `'*'` = every service). Absent or empty: no
   * service — a forgotten list fails closed (PERMISSION_DENIED), never open.
   */
  callers?: readonly string[];
  /** The method's `…ApiError` message and enum; omitted when the seed gives the method none. */
  errors?: ApiErrorType;
  /** The codes the handler can raise (checked against `errors` and CommonApiError). */
  raises?: Raises<SeedCode>;
}

/** The codes of `P.raises` that `P.errors` and CommonApiError do not declare. */
type Undeclared<P> = P extends { raises: Raises<infer Raised> }
  ? Exclude<Raised, CommonCode | (P extends { errors: ApiErrorType<infer Declared> } ? Declared : never)>
  : never;

/** A policy whose `raises` names an undeclared code gets an impossible `raises` type naming it. */
type Checked<P> = [Undeclared<P>] extends [never] ? P : Omit<P, 'raises'> & { raises: { undeclaredCodes: Undeclared<P> } };

export interface ServiceRegistration<D extends ServiceDefinitionLike = ServiceDefinitionLike> {
  /** Fully qualified name, e.g. kfrm.api.key.KeyService (for health and logs). */
  name: string;
  definition: D;
  handlers: HandlersOf<D>;
  policies: { [K in keyof D]: MethodPolicy };
}

/**
 * Binds a generated service definition to async handlers and a policy per method. A method
 * without a handler answers UNIMPLEMENTED (after its access check, so an unauthenticated caller
 * learns nothing about what exists).
 */
export function defineService<D extends ServiceDefinitionLike, P extends { [K in keyof D]: MethodPolicy<RequestOf<D[K]>> }>(
  definition: D,
  handlers: HandlersOf<D>,
  policies: P & { [K in keyof P]: Checked<P[K]> },
): ServiceRegistration<D> {
  const first = Object.values(definition)[0];
  if (!first) throw new Error('service definition has no methods');
  const name = first.path.split('/')[1]!;
  return { name, definition, handlers, policies };
}
