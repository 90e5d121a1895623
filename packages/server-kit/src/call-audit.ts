import type { Principal } from './access';

/**
 * What the listener writes to the audit log for a call (the shape of `@kfrm/audit`'s AuditEvent,
 * declared here so the server kit does not depend on where rows are stored). Ids, codes and
 * amounts only: no token, no key, no personal data, no free text.
 */
export interface AuditRecord {
  actorKind: 'operator' | 'service' | 'anonymous';
  actor: string;
  action: string;
  target: string;
  outcome: string;
  detail?: Record<string, string>;
}

export interface CallAuditSink {
  append(record: AuditRecord): Promise<void>;
}

/**
 * A method whose calls are security events (operator actions: a deposit, a KYC decision, an
 * unlock, a revocation, a limit or status change): declared next to its other policies in
 * define-service. `target` and `detail` read the request; they must return ids and codes only.
 */
export interface AuditPolicy<Req> {
  /** e.g. `ledger.deposit`, `user.kyc_decision`. */
  action: string;
  target(request: Req): string;
  detail?(request: Req): Record<string, string>;
}

/** Who a call is from, for the audit log. */
export function auditActorOf(principal: Principal): Pick<AuditRecord, 'actorKind' | 'actor'> {
  if (principal.operator) return { actorKind: 'operator', actor: principal.operator.subject };
  if (principal.service) return { actorKind: 'service', actor: principal.service };
  return { actorKind: 'anonymous', actor: '' };
}

/** The audit record of a call, minus its outcome; undefined when the method is not audited. */
export function auditRecordOf(
  policy: AuditPolicy<unknown> | undefined,
  request: unknown,
  principal: Principal,
): Omit<AuditRecord, 'outcome'> | undefined {
  if (!policy) return undefined;
  let target = '';
  let detail: Record<string, string> | undefined;
  try {
    target = policy.target(request);
    detail = policy.detail?.(request);
  } catch {
    // A request too malformed to name its target is still recorded (the handler refuses it).
  }
  return { ...auditActorOf(principal), action: policy.action, target, ...(detail ? { detail } : {}) };
}
