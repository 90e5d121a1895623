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
 * A service's identity on the internal network: the URI SAN of its internal certificate, issued
 * by the internal CA (`serviceIdentityUri` in @kfrm/pki makes the same names). The edge's
 * certificate (`spiffe://kfrm/edge`) names no service: through it only operators' tokens count.
 */
const SERVICE_URI = /^spiffe:\/\/kfrm\/service\/([a-z][a-z0-9-]{0,62})$/;

/** What a method's `callers` may list besides service names: every service of ours. */
export const ANY_SERVICE = '*';

/**
 * The calling service named by a verified client certificate's URI SANs, or undefined when
 * they name none (or, ambiguously, more than one). The listener passes only URIs of a
 * certificate the TLS layer verified against the internal CA.
 */
export function serviceOfPeer(uris: readonly string[] | undefined): string | undefined {
  const services = (uris ?? []).map((uri) => SERVICE_URI.exec(uri)?.[1]).filter((s): s is string => s !== undefined);
  return services.length === 1 ? services[0] : undefined;
}

/** Operator tokens are longer than session tokens (an RS256 JWT from Keycloak is ~1.5 KB). */
const OPERATOR_BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{16,8192})$/;

function operatorBearer(metadata: Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  return OPERATOR_BEARER.exec(value)?.[1];
}

/** A refusal or failure the internal guard reports (to the audit log): no token, no key, no personal data. */
export interface AccessRefusal {
  /**
   * operator-authentication-failed: an operator method called without a valid token (and not by
   * a service); operator-call-refused: a valid operator without one of the method's roles;
   * caller-unknown: a service method called by nobody we know (no service certificate, no token);
   * service-call-refused: a known service the method's `callers` do not name.
   */
  kind: 'operator-authentication-failed' | 'operator-call-refused' | 'caller-unknown' | 'service-call-refused';
  /** Full method path. */
  method: string;
  /** The operator's subject when the token was valid (refused for want of a role). */
  subject?: string;
  /** The calling service, when it was known (refused for not being one of the method's callers). */
  service?: string;
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
 * The internal listener's guard. It serves only `internal` methods, each to the callers it
 * declares next to its other policies in define-service:
 * 1. an operator: a call carrying `authorization: Bearer <JWT>` is always an operator call — the
 *    token must verify (else UNAUTHENTICATED) and hold one of the method's `operator` roles (else
 *    PERMISSION_DENIED; a method without them serves no operator);
 * 2. a service: a call without a token from a known service — one whose client certificate from
 *    the internal CA names it (`spiffe://kfrm/service/<name>`), or an in-process call, which the
 *    composition root made in that service's name — served when the method's `callers` name it
 *    (or ANY_SERVICE), else PERMISSION_DENIED;
 * 3. anybody else: UNAUTHENTICATED. No header names a service: what a remote client can set
 *    proves nothing.
 * Every refusal is reported to `onRefusal`.
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
      const path = method?.path ?? '';
      const roles = method?.operatorRoles ?? [];
      const token = operatorBearer(call.metadata);
      if (token === undefined) {
        const service = call.inProcess ? call.inProcessCaller : serviceOfPeer(call.peerUris);
        if (!service) {
          if (roles.length > 0) {
            const hasHeader = call.metadata.get('authorization').length > 0;
            await refuse({
              kind: 'operator-authentication-failed',
              method: path,
              reason: hasHeader ? 'malformed authorization header' : 'no token',
            });
            throw unauthenticated('operator token or service certificate required');
          }
          await refuse({ kind: 'caller-unknown', method: path, reason: 'no service certificate' });
          throw unauthenticated('service certificate required');
        }
        const callers = method?.callers ?? [];
        if (callers.includes(service) || callers.includes(ANY_SERVICE)) return { level, service };
        await refuse({ kind: 'service-call-refused', method: path, service, reason: 'caller not allowed' });
        throw new PermissionDeniedError(`${path} may not be called by the service ${service}`);
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
          reason: roles.length > 0 ? `missing role ${roles.join(' or ')}` : 'no operator may call this method',
        });
        throw new PermissionDeniedError(
          roles.length > 0 ? `requires the operator role ${roles.join(' or ')}` : 'no operator may call this method',
        );
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

/** The internal guard without operators: every method then serves its services only. */
export const internalAccessGuard: AccessGuard = createInternalAccessGuard();
