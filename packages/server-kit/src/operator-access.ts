import type { Metadata } from '@grpc/grpc-js';
import { PermissionDeniedError } from '@kfrm/errors';
import { type AccessGuard, type CallCredentials, type Principal, unauthenticated } from './access';

/**
 * The roles an operator (a bank employee, not a customer, not a service) can hold. A method
 * names the roles that may call it next to its other policies (`operator: ['teller']` in
 * define-service); any one of them suffices.
 * - kyc-reviewer: KYC decisions (UpdateKyc);
 * - teller: deposits (Deposit);
 * - support: unlock and unblock, device and session revocation, limit changes;
 * - auditor: reading and verifying the audit log.
 */
export const OPERATOR_ROLES = ['kyc-reviewer', 'teller', 'support', 'auditor'] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export const isOperatorRole = (value: unknown): value is OperatorRole => (OPERATOR_ROLES as readonly unknown[]).includes(value);

export interface OperatorIdentity {
  /** The token's `sub`: an opaque id at the identity provider (no name, no e-mail). */
  subject: string;
  roles: OperatorRole[];
}

/**
 * Checks an operator's bearer token (signature against the issuer's JWKS, expiry, issuer,
 * audience) and returns who it is; rejects with a reason (for the audit log, never the client)
 * when it is not valid.
 */
export type OperatorTokenVerifier = (token: string) => Promise<OperatorIdentity>;

/**
 * Set by `@kfrm/runtime`'s internal clients on every call a service makes to another: the
 * calling service's name. Until service identity comes from the internal mTLS certificate
 * (issue 16 item 1), this header is only a claim: anyone who reaches the internal listener can
 * set it (docs/operators.md, "The rule and its weakness").
 */
export const CALLER_SERVICE_HEADER = 'x-kfrm-caller-service';
const SERVICE_NAME = /^[a-z][a-z0-9-]{0,39}$/;

/** Operator tokens are longer than session tokens (an RS256 JWT from Keycloak is ~1.5 KB). */
const OPERATOR_BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{16,8192})$/;

function operatorBearer(metadata: Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  return OPERATOR_BEARER.exec(value)?.[1];
}

function callerService(metadata: Metadata): string | undefined {
  const value = metadata.get(CALLER_SERVICE_HEADER)[0];
  return typeof value === 'string' && SERVICE_NAME.test(value) ? value : undefined;
}

/** A refusal or failure the internal guard reports (to the audit log): no token, no key, no personal data. */
export interface AccessRefusal {
  kind: 'operator-authentication-failed' | 'operator-call-refused';
  /** Full method path. */
  method: string;
  /** The operator's subject when the token was valid (refused for want of a role). */
  subject?: string;
  /** Why, in a few words (e.g. "no token", "token expired", "missing role teller"). */
  reason: string;
}

export interface InternalAccessGuardOptions {
  /** Absent: no operator can be authenticated (every operator-only call is UNAUTHENTICATED). */
  verifyOperator?: OperatorTokenVerifier;
  /**
   * Told about every refused operator call, before the refusal is answered: waiting for the audit
   * row is the back-pressure that keeps a flood of bad calls from queueing rows without bound.
   * A failure here never changes the answer.
   */
  onRefusal?(refusal: AccessRefusal): void | Promise<void>;
}

/**
 * The internal listener's guard. It serves only `internal` methods. A method without an
 * operator policy is a service-to-service call, decided by the listener's boundary (bound to a
 * private interface, or the mesh) as before. A method with one (`operator: [...roles]`) is
 * served to:
 * 1. an operator: a call carrying `authorization: Bearer <JWT>` is always an operator call — the
 *    token must verify (else UNAUTHENTICATED) and hold one of the roles (else PERMISSION_DENIED);
 * 2. a service: a call without a token that carries a service identity — made in this process
 *    (in-process calls cannot come from outside), or with the caller-service header (see
 *    CALLER_SERVICE_HEADER for its weakness);
 * and to nobody else (UNAUTHENTICATED). Every refusal is reported to `onRefusal`.
 */
export function createInternalAccessGuard(options: InternalAccessGuardOptions = {}): AccessGuard {
  const refuse = async (refusal: AccessRefusal) => {
    try {
      await options.onRefusal?.(refusal);
    } catch {
      // Reporting must never change the answer.
    }
  };
  return {
    async authorize(level, call: CallCredentials, method): Promise<Principal> {
      if (level !== 'internal') throw unauthenticated('method is not served here');
      const service = call.inProcess ? (callerService(call.metadata) ?? 'in-process') : callerService(call.metadata);
      const roles = method?.operatorRoles;
      if (!roles) return service ? { level, service } : { level };
      const path = method.path;
      const token = operatorBearer(call.metadata);
      if (token === undefined) {
        if (service) return { level, service };
        const hasHeader = call.metadata.get('authorization').length > 0;
        await refuse({
          kind: 'operator-authentication-failed',
          method: path,
          reason: hasHeader ? 'malformed authorization header' : 'no token',
        });
        throw unauthenticated('operator token required');
      }
      let operator: OperatorIdentity;
      try {
        if (!options.verifyOperator) throw new Error('no operator issuer configured');
        operator = await options.verifyOperator(token);
      } catch (err) {
        await refuse({ kind: 'operator-authentication-failed', method: path, reason: reasonOf(err) });
        throw unauthenticated('operator token is not valid');
      }
      if (!operator.roles.some((role) => roles.includes(role))) {
        await refuse({
          kind: 'operator-call-refused',
          method: path,
          subject: operator.subject,
          reason: `missing role ${roles.join(' or ')}`,
        });
        throw new PermissionDeniedError(`requires the operator role ${roles.join(' or ')}`);
      }
      return { level, operator };
    },
  };
}

/** A short, secret-free reason: jose's error codes (ERR_JWT_EXPIRED, …) or the message's first words. */
function reasonOf(err: unknown): string {
  const code = (err as { code?: unknown })?.code;
  if (typeof code === 'string' && /^ERR_[A-Z_]+$/.test(code)) return code;
  const message = err instanceof Error ? err.message : String(err);
  return message.slice(0, 80);
}

/** The internal guard without operators: operator-only methods then serve services only. */
export const internalAccessGuard: AccessGuard = createInternalAccessGuard();
