/**
 * Idempotency keys for mutating mobile calls (docs/idempotency.md). The app sends an
 * `idempotency-key` metadata entry, one per logical call, the same on every retry of it. For a
 * method whose policy says `idempotent: true`:
 * - the first call with a key claims it (one store write) and runs; its answer — the response, or
 *   an error that is final for this request — is stored for the window;
 * - a retry with the same key and the same request gets that stored answer, and nothing runs again;
 * - the same key with another method or request body is IDEMPOTENCY_KEY_REUSED (nothing runs);
 * - a duplicate arriving while the first still runs waits for its answer (one execution);
 * - an error that is not final (unavailable, rate-limited, unauthenticated, a bug) releases the
 *   claim, so a retry runs afresh.
 * Keys are scoped by caller: the session's user, else the device certificate's device, else (a
 * public method, i.e. CreateDevice) the key alone — a random 128-bit value nobody else knows.
 *
 * What the store holds cannot be read without the key: the record's name is a hash of scope and
 * key, the request fingerprint an HMAC under a key derived from them, and the stored answer is
 * sealed (AES-256-GCM) under that derived key. A dump of the store yields no tokens or
 * certificates, and no way to tell which records belong to whom.
 */
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DomainError, InvalidArgumentError, PermissionDeniedError, type SeedCode } from '@kfrm/errors';
import { status } from '@grpc/grpc-js';
import type { Principal } from './access';
import { ERROR_STATUS } from './error-status-table';

/** The metadata entry (lower case: gRPC metadata keys are). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** A UUID or any other random value: long enough not to collide, short enough to store. */
const KEY_FORMAT = /^[A-Za-z0-9_-]{16,64}$/;

/** The store operations used (a `@kfrm/store` Store has them all; server-kit does not depend on it). */
export interface IdempotencyRecords {
  get(key: string): Promise<string | null>;
  set(key: string, value: string, options: { ttlMs: number }): Promise<void>;
  setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean>;
  compareAndDelete(key: string, expected: string): Promise<boolean>;
}

export interface IdempotencyOptions {
  records: IdempotencyRecords;
  /** How long an answer is kept (and a key stays taken): default 24 h. */
  windowMs?: number;
  /**
   * How long a running call holds its key before a duplicate may run instead (a process that
   * died mid-call must not block the key for the whole window): default 60 s, above every
   * mobile call's deadline.
   */
  leaseMs?: number;
}

export const DEFAULT_IDEMPOTENCY_WINDOW_MS = 24 * 60 * 60_000;
export const DEFAULT_IDEMPOTENCY_LEASE_MS = 60_000;

/** gRPC statuses whose answer would be the same if the same request ran again: they are stored. */
const FINAL_STATUSES: ReadonlySet<status> = new Set([
  status.INVALID_ARGUMENT,
  status.NOT_FOUND,
  status.ALREADY_EXISTS,
  status.PERMISSION_DENIED,
  status.FAILED_PRECONDITION,
  status.OUT_OF_RANGE,
]);

type StoredError = { kind: 'domain'; code: SeedCode; message: string } | { kind: 'invalid' | 'denied'; message: string };
type StoredAnswer = { ok: string } | { error: StoredError };
type IdempotencyRecord = { s: 'running'; fp: string; t: string } | { s: 'done'; fp: string; a: string };

/** The error as stored, or undefined when it is not final (the claim is then released). */
function finalError(err: unknown): StoredError | undefined {
  if (err instanceof DomainError) {
    const grpcStatus = ERROR_STATUS[err.code];
    return grpcStatus !== undefined && FINAL_STATUSES.has(grpcStatus)
      ? { kind: 'domain', code: err.code as SeedCode, message: err.message }
      : undefined;
  }
  if (err instanceof InvalidArgumentError) return { kind: 'invalid', message: err.message };
  if (err instanceof PermissionDeniedError) return { kind: 'denied', message: err.message };
  return undefined;
}

function replayError(error: StoredError): Error {
  if (error.kind === 'domain') return new DomainError(error.code, error.message);
  return error.kind === 'invalid' ? new InvalidArgumentError(error.message) : new PermissionDeniedError(error.message);
}

function scopeOf(principal: Principal): string {
  if (principal.session) return `user:${principal.session.userId}`;
  if (principal.device) return `device:${principal.device.deviceId}`;
  return 'public';
}

function seal(secret: Buffer, answer: StoredAnswer): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', secret, iv);
  const body = Buffer.concat([cipher.update(JSON.stringify(answer), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

function unseal(secret: Buffer, sealed: string): StoredAnswer {
  const bytes = Buffer.from(sealed, 'base64');
  const decipher = createDecipheriv('aes-256-gcm', secret, bytes.subarray(0, 12));
  decipher.setAuthTag(bytes.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(bytes.subarray(28)), decipher.final()]).toString('utf8')) as StoredAnswer;
}

export interface IdempotentCall<Res> {
  /** The metadata's idempotency-key values (none: the call runs as it is). */
  keys: readonly (string | Buffer)[];
  principal: Principal;
  /** Full method path: the same key on another method is a reuse. */
  method: string;
  /** The request's protobuf encoding (the fingerprint covers every byte of it). */
  requestBytes: Buffer;
  serialize(response: Res): Buffer;
  deserialize(bytes: Buffer): Res;
  /** Ends the wait for a running duplicate (the caller cancelled or its deadline passed). */
  signal: AbortSignal;
  /** Told when an answer is replayed or a claim could not be settled (ids only, no content). */
  onEvent?(event: 'replayed' | 'waited' | 'store-write-failed', err?: unknown): void;
}

/** The call's key, or undefined without one; a malformed or repeated entry is refused. */
export function idempotencyKeyOf(keys: readonly (string | Buffer)[]): string | undefined {
  if (keys.length === 0) return undefined;
  const [key] = keys;
  if (keys.length > 1 || typeof key !== 'string' || !KEY_FORMAT.test(key)) {
    throw new InvalidArgumentError(`${IDEMPOTENCY_KEY_HEADER} must be one value of 16-64 characters A-Z a-z 0-9 _ -`);
  }
  return key;
}

/** Runs `execute` at most once per (caller, key) within the window; see the file comment. */
export async function runIdempotent<Res>(
  options: IdempotencyOptions,
  call: IdempotentCall<Res>,
  execute: () => Promise<Res>,
): Promise<Res> {
  const key = idempotencyKeyOf(call.keys);
  if (key === undefined) return execute();
  const windowMs = options.windowMs ?? DEFAULT_IDEMPOTENCY_WINDOW_MS;
  const leaseMs = options.leaseMs ?? DEFAULT_IDEMPOTENCY_LEASE_MS;
  const { records } = options;
  const scoped = `${scopeOf(call.principal)}\u0000${key}`;
  const recordKey = createHash('sha256').update(`record\u0000${scoped}`).digest('base64url');
  const secret = createHash('sha256').update(`seal\u0000${scoped}`).digest();
  const fingerprint = createHmac('sha256', secret).update(call.method).update('\u0000').update(call.requestBytes).digest('base64url');
  const running = JSON.stringify({ s: 'running', fp: fingerprint, t: randomBytes(12).toString('base64url') } satisfies IdempotencyRecord);

  for (let wait = 10; ; wait = Math.min(wait * 2, 250)) {
    if (await records.setIfAbsent(recordKey, running, leaseMs)) break;
    const raw = await records.get(recordKey);
    // Released (a non-final error) or expired between the two reads: try to claim it again.
    if (raw === null) continue;
    const existing = JSON.parse(raw) as IdempotencyRecord;
    if (existing.fp !== fingerprint) {
      throw new DomainError('IDEMPOTENCY_KEY_REUSED', `${IDEMPOTENCY_KEY_HEADER} was already used for another request`);
    }
    if (existing.s === 'done') {
      call.onEvent?.('replayed');
      const answer = unseal(secret, existing.a);
      if ('error' in answer) throw replayError(answer.error);
      return call.deserialize(Buffer.from(answer.ok, 'base64'));
    }
    // The same request is running elsewhere: its answer will be ours.
    call.onEvent?.('waited');
    await sleep(wait, undefined, { signal: call.signal });
  }

  const settle = async (answer: StoredAnswer) => {
    const done: IdempotencyRecord = { s: 'done', fp: fingerprint, a: seal(secret, answer) };
    try {
      await records.set(recordKey, JSON.stringify(done), { ttlMs: windowMs });
    } catch (err) {
      // The call is done either way and its answer goes back; a retry after the lease would
      // run again (what every call without a key does), so this is reported, not fatal.
      call.onEvent?.('store-write-failed', err);
    }
  };
  let response: Res;
  try {
    response = await execute();
  } catch (err) {
    const error = finalError(err);
    if (error) await settle({ error });
    else await records.compareAndDelete(recordKey, running).catch((e: unknown) => call.onEvent?.('store-write-failed', e));
    throw err;
  }
  await settle({ ok: call.serialize(response).toString('base64') });
  return response;
}
