import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

export interface CallOptions {
  metadata?: Record<string, string>;
  /** Per attempt. */
  deadlineMs?: number;
  /**
   * The logical call's idempotency key (docs/idempotency.md); default a fresh UUID per `unary()`
   * call. Pass the same one to retry a call yourself (e.g. after the app restarted).
   */
  idempotencyKey?: string;
  /**
   * Attempts in all while the server answers UNAVAILABLE, each with the same key; default 3, or 1
   * when the request carries an E2E-encrypted message (see `carriesCiphertext`).
   */
  attempts?: number;
}

/**
 * Whether a top-level field is an E2E EncryptedMessage. The server takes each such ciphertext
 * once, so resending it after UNAVAILABLE would be refused as undecryptable (INVALID_ARGUMENT)
 * and hide the outage: the app redoes such a call with the secret encrypted anew.
 */
function carriesCiphertext(request: unknown): boolean {
  if (typeof request !== 'object' || request === null) return false;
  return Object.values(request).some(
    (value) => typeof value === 'object' && value !== null && 'message' in value && 'sessionId' in value && 'provider' in value,
  );
}

export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key';
/** Waits before the 2nd, 3rd, … attempt. */
const RETRY_DELAYS_MS = [100, 400, 1_000];

/**
 * Promise form of a generated grpc-js unary method: `await unary(client, client.getKey, req)`.
 * Every call carries an `idempotency-key`, the same on each retry, so a retried mutation (its
 * answer lost to UNAVAILABLE) gets the first attempt's answer instead of running twice. Reads
 * ignore the key.
 */
export async function unary<C extends grpc.Client, Req, Res>(
  client: C,
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: CallOptions = {},
): Promise<Res> {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  if (!metadata.get(IDEMPOTENCY_KEY_HEADER).length) metadata.set(IDEMPOTENCY_KEY_HEADER, options.idempotencyKey ?? randomUUID());
  const attempts = Math.max(1, options.attempts ?? (carriesCiphertext(request) ? 1 : 3));
  for (let attempt = 1; ; attempt++) {
    const callOptions: Partial<grpc.CallOptions> = { deadline: Date.now() + (options.deadlineMs ?? 15_000) };
    try {
      return await new Promise<Res>((resolve, reject) =>
        method.call(client, request, metadata, callOptions, (err, response) => (err ? reject(err) : resolve(response))),
      );
    } catch (err) {
      if (attempt >= attempts || (err as grpc.ServiceError).code !== grpc.status.UNAVAILABLE) throw err;
      await sleep(RETRY_DELAYS_MS[Math.min(attempt - 1, RETRY_DELAYS_MS.length - 1)]);
    }
  }
}
