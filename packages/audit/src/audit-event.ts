/**
 * One row of the audit log, as the code that emits it sees it. Only who, what, on what and how it
 * ended: ids, codes, amounts. Never a token, a key, a name, a resident number, a phone number or
 * free text an operator typed (a "reason" can hold anything, so it is not recorded).
 */
export interface AuditEvent {
  /** operator: a person with a verified token; service: another service's call; anonymous: nobody proved who. */
  actorKind: 'operator' | 'service' | 'anonymous';
  /** The operator's subject (the token's `sub`), the service's name, or '' for anonymous. */
  actor: string;
  /** What happened, e.g. `ledger.deposit`, `user.kyc_decision`, `operator.authentication_failed`. */
  action: string;
  /** What it was done to, as ids: `account:3333-…`, `user:42`, or the method path of a refused call. */
  target: string;
  /** `requested`, `ok`, `pending`, or the refusal's code (`PERMISSION_DENIED`, `NOT_FOUND:USER_NOT_FOUND`, …). */
  outcome: string;
  /** Small facts as strings: a KYC status, an amount, a status change, a refusal's reason code. */
  detail?: Record<string, string>;
}

/** A stored row: the event, where it sits in the chain and its hashes. */
export interface AuditEntry extends Required<AuditEvent> {
  seq: bigint;
  occurredAt: Date;
  /** SHA-256 of the previous row (32 zero bytes for the first), hex. */
  prevHash: string;
  /** SHA-256 of this row's canonical form, which includes prevHash, hex. */
  hash: string;
}

/** Where events go: the audit log, or a stand-in in tests. Rejects when the row could not be stored. */
export interface AuditSink {
  append(event: AuditEvent): Promise<void>;
}
