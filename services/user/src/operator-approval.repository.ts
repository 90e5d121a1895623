import { sql, type Kysely } from 'kysely';
import type { OperatorApproval, OperatorApprovalStatus } from './operator-approval';

type Row = {
  approval_id: string;
  method: string;
  request: Buffer;
  maker: string;
  roles: string[];
  target: string;
  detail: Record<string, string> | string;
  status: OperatorApprovalStatus;
  created_at: Date;
  decided_by: string | null;
  decided_at: Date | null;
  outcome: string | null;
};

const toApproval = (r: Row): OperatorApproval => ({
  approvalId: r.approval_id,
  method: r.method,
  request: new Uint8Array(r.request),
  maker: r.maker,
  roles: r.roles,
  target: r.target,
  detail: typeof r.detail === 'string' ? (JSON.parse(r.detail) as Record<string, string>) : r.detail,
  status: r.status,
  createdAt: r.created_at,
  decidedBy: r.decided_by ?? undefined,
  decidedAt: r.decided_at ?? undefined,
  outcome: r.outcome ?? undefined,
});

/** All SQL of operator approvals (table users.operator_approvals). */
export function createOperatorApprovalRepository(db: Kysely<any>) {
  return {
    async insert(a: OperatorApproval): Promise<void> {
      await db
        .insertInto('operator_approvals')
        .values({
          approval_id: a.approvalId,
          method: a.method,
          request: Buffer.from(a.request),
          maker: a.maker,
          roles: sql`${a.roles}::text[]`,
          target: a.target,
          detail: JSON.stringify(a.detail),
          status: a.status,
          created_at: a.createdAt,
        })
        .execute();
    },
    async find(approvalId: string): Promise<OperatorApproval | undefined> {
      const row = await db.selectFrom('operator_approvals').selectAll().where('approval_id', '=', approvalId).executeTakeFirst();
      return row ? toApproval(row as Row) : undefined;
    },
    async listPending(limit: number): Promise<OperatorApproval[]> {
      const rows = await db
        .selectFrom('operator_approvals')
        .selectAll()
        .where('status', '=', 'PENDING')
        .orderBy('created_at')
        .limit(limit)
        .execute();
      return (rows as Row[]).map(toApproval);
    },
    /** PENDING → `to` with who decided, atomically: only one decision ever wins. Undefined when it was not pending. */
    async decide(approvalId: string, to: 'EXECUTING' | 'REJECTED', by: string, at: Date): Promise<OperatorApproval | undefined> {
      const row = await db
        .updateTable('operator_approvals')
        .set({ status: to, decided_by: by, decided_at: at })
        .where('approval_id', '=', approvalId)
        .where('status', '=', 'PENDING')
        .returningAll()
        .executeTakeFirst();
      return row ? toApproval(row as Row) : undefined;
    },
    async finish(approvalId: string, outcome: string): Promise<OperatorApproval> {
      const row = await db
        .updateTable('operator_approvals')
        .set({ status: 'EXECUTED', outcome })
        .where('approval_id', '=', approvalId)
        .where('status', '=', 'EXECUTING')
        .returningAll()
        .executeTakeFirstOrThrow();
      return toApproval(row as Row);
    },
    /** An execution that could not reach the service: back to PENDING, to be approved again. */
    async release(approvalId: string): Promise<void> {
      await db
        .updateTable('operator_approvals')
        .set({ status: 'PENDING', decided_by: null, decided_at: null })
        .where('approval_id', '=', approvalId)
        .where('status', '=', 'EXECUTING')
        .execute();
    },
  };
}

export type OperatorApprovalRepository = ReturnType<typeof createOperatorApprovalRepository>;
