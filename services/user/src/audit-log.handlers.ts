import type { AuditEntry, AuditLog } from '@kfrm/audit';
import { AuditLogServiceService, type AuditLogEntry } from '@kfrm/proto/gen/kfrm/api/user/audit_log_internal';
import { defineService, raises } from '@kfrm/server-kit';

const toWire = (e: AuditEntry): AuditLogEntry => ({
  seq: e.seq,
  occurredAt: e.occurredAt.toISOString(),
  actorKind: e.actorKind,
  actor: e.actor,
  action: e.action,
  target: e.target,
  outcome: e.outcome,
  detail: e.detail,
  prevHash: e.prevHash,
  hash: e.hash,
});

/** The auditor's reading and verifying of the audit log (docs/operators.md); both are audited too. */
export function auditLogHandlers(log: AuditLog) {
  return defineService(
    AuditLogServiceService,
    {
      async listAuditLogEntries(r) {
        const entries = await log.list({ newestFirst: true, afterSeq: r.beforeSeq, limit: r.limit === 0 ? 50 : Math.min(r.limit, 500) });
        return { entries: entries.map(toWire) };
      },
      async verifyAuditLog() {
        const result = await log.verify();
        return result.ok
          ? { ok: true, rows: result.rows, headSeq: result.head.seq, headHash: result.head.hash, brokenSeq: 0n, problem: '' }
          : { ok: false, rows: 0n, headSeq: 0n, headHash: '', brokenSeq: result.broken.seq, problem: result.broken.problem };
      },
    },
    {
      listAuditLogEntries: {
        access: 'internal',
        callers: [],
        operator: ['auditor'],
        audit: { action: 'audit.read', target: () => 'audit_log', detail: (r) => ({ before_seq: String(r.beforeSeq) }) },
        raises: raises(),
      },
      verifyAuditLog: {
        access: 'internal',
        callers: [],
        operator: ['auditor'],
        audit: { action: 'audit.verify', target: () => 'audit_log' },
        raises: raises(),
      },
    },
  );
}
