import type { Metadata } from '@grpc/grpc-js';
import { DomainError } from '@kfrm/errors';
import type { OperatorIdentity, OperatorRole } from './operator-access';

/**
 * Who may call a method. Every method of every service declares one (the type makes a missing
 * one a compile error), so a new method is never open by accident.
 * - public: anyone with a TLS connection (CreateDevice, app version, E2E keys);
 * - device: a valid, unrevoked device certificate from our device CA;
 * - session: a device certificate plus a live session bound to that device;
 * - internal: service-to-service, served only on the internal listener; with an operator policy
 *   (`operator: [...roles]` in define-service) also to operators holding one of the roles
 *   (operator-access.ts).
 */
export type AccessLevel = 'public' | 'device' | 'session' | 'internal';

export interface DeviceIdentity {
  deviceId: string;
  /** DER of the client certificate the call came with. */
  certificateDer: Uint8Array;
}

export interface SessionIdentity {
  userId: string;
  deviceId: string;
  sessionToken: string;
}

export interface Principal {
  level: AccessLevel;
  device?: DeviceIdentity;
  session?: SessionIdentity;
  /**
   * An internal call made by another service: its name, from its verified internal certificate
   * or, in-process, from the composition root (operator-access.ts).
   */
  service?: string;
  /** An internal call made by an operator with a verified token. */
  operator?: OperatorIdentity;
}

export interface CallCredentials {
  metadata: Metadata;
  /** The client certificate's DER, when the client sent one. */
  peerCertificateDer?: Uint8Array;
  /** True for a call made from this process (GrpcListener.inProcessUnary): it cannot come from outside. */
  inProcess?: boolean;
  /**
   * In-process calls: the calling service, as the composition root named it when it made that
   * service's internal clients (never from the call's metadata).
   */
  inProcessCaller?: string;
  /**
   * The URI SANs of the client certificate, present only when the TLS layer verified it against
   * the listener's CA (grpc-js reports no peer certificate otherwise).
   */
  peerUris?: readonly string[];
}

/** The method being called, for guards that decide per method. */
export interface GuardedMethod {
  path: string;
  /** The operator roles that may call it (define-service's `operator` policy); absent: none. */
  operatorRoles?: readonly OperatorRole[];
  /** The services that may call it (define-service's `callers` policy); absent: none. */
  callers?: readonly string[];
}

/** Decides whether a call may proceed at a level and who it is from. */
export interface AccessGuard {
  authorize(level: AccessLevel, call: CallCredentials, method?: GuardedMethod): Promise<Principal>;
}

export const unauthenticated = (message = 'client certificate or session is not valid') => new DomainError('UNAUTHENTICATED_USER', message);

export interface MobileAccessGuardOptions {
  /** Checks a client certificate; undefined when it is not one of our valid devices. */
  verifyDevice(certificateDer: Uint8Array): Promise<DeviceIdentity | undefined>;
  /** Resolves a session token for a device; undefined when there is no live session. */
  resolveSession?(token: string, device: DeviceIdentity): Promise<SessionIdentity | undefined>;
}

const SESSION_TOKEN_HEADER = 'authorization';

function bearerToken(metadata: Metadata): string | undefined {
  const value = metadata.get(SESSION_TOKEN_HEADER)[0];
  if (typeof value !== 'string') return undefined;
  const match = /^Bearer ([A-Za-z0-9._~+/=-]{16,512})$/.exec(value);
  return match?.[1];
}

/**
 * The mobile listener's guard. Failures all look alike to the client (UNAUTHENTICATED with
 * CommonApiError UNAUTHENTICATED_USER): which check failed is not the caller's business.
 */
export function createMobileAccessGuard(options: MobileAccessGuardOptions): AccessGuard {
  return {
    async authorize(level, call) {
      if (level === 'public') return { level };
      if (level === 'internal') throw unauthenticated('method is not served here');
      if (!call.peerCertificateDer) throw unauthenticated();
      const device = await options.verifyDevice(call.peerCertificateDer);
      if (!device) throw unauthenticated();
      if (level === 'device') return { level, device };
      const token = bearerToken(call.metadata);
      if (!token || !options.resolveSession) throw unauthenticated();
      const session = await options.resolveSession(token, device);
      if (!session || session.deviceId !== device.deviceId) throw unauthenticated();
      return { level, device, session };
    },
  };
}
