import type { DatabaseHandle } from '@kfrm/db';
import { AuditLog } from './audit.repository';

/**
 * What `pnpm audit:verify` prints: one line, and whether the chain holds. The broken link is
 * named by seq and problem only (the rows' content is for the audit view, not for a terminal log).
 */
export async function verifyAuditLog(db: DatabaseHandle): Promise<{ ok: boolean; line: string }> {
  const result = await new AuditLog(db).verify();
  if (result.ok) {
    return {
      ok: true,
      line: `audit log OK: ${result.rows} rows, head seq ${result.head.seq} hash ${result.head.hash} (record the head elsewhere: it proves nothing was cut off the end)`,
    };
  }
  const b = result.broken;
  const what =
    b.problem === 'gap'
      ? `row ${b.expectedSeq} is missing (next row is ${b.seq})`
      : b.problem === 'previous hash differs'
        ? `row ${b.seq} does not link to row ${b.seq - 1n}: stored previous hash ${b.stored}, row ${b.seq - 1n} hashes to ${b.expected}`
        : `row ${b.seq} was changed: its content hashes to ${b.expected}, stored hash ${b.stored}`;
  return { ok: false, line: `audit log BROKEN at seq ${b.seq}: ${what}` };
}
