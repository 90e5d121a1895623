import { sql, type Kysely } from 'kysely';
import type { DatabaseHandle } from '@kfrm/db';
import { checkLinks, clip, GENESIS_HASH, hashOf, type ChainBreak } from './audit-chain';
import type { AuditEntry, AuditEvent, AuditSink } from './audit-event';
import type { AuditDatabase } from './audit.table';

export const AUDIT_SCHEMA = 'audit';

/**
 * Serializes appends across every process on the database: the chain's head is read and the new
 * row written under this transaction-scoped advisory lock (which needs no table privilege beyond
 * INSERT, unlike LOCK TABLE). Its value spells "kfrmaudt".
 */
const APPEND_LOCK = 0x6b66726d61756474n;

export type VerifyResult = { ok: true; rows: bigint; head: { seq: bigint; hash: string } } | { ok: false; broken: ChainBreak };

type Row = {
  seq: bigint | string;
  occurred_at: Date;
  actor_kind: string;
  actor: string;
  action: string;
  target: string;
  outcome: string;
  detail: Record<string, string> | string;
  prev_hash: string;
  hash: string;
};

function toEntry(row: Row): AuditEntry {
  return {
    seq: BigInt(row.seq),
    occurredAt: row.occurred_at,
    actorKind: row.actor_kind as AuditEntry['actorKind'],
    actor: row.actor,
    action: row.action,
    target: row.target,
    outcome: row.outcome,
    detail: typeof row.detail === 'string' ? (JSON.parse(row.detail) as Record<string, string>) : row.detail,
    prevHash: row.prev_hash,
    hash: row.hash,
  };
}

/** Keeps detail to string values and bounded sizes: what the hash covers must round-trip through jsonb exactly. */
function cleanDetail(detail: Record<string, string> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(detail ?? {}).slice(0, 16)) out[clip(key)] = clip(String(value));
  return out;
}

export class AuditLog implements AuditSink {
  private readonly db: Kysely<AuditDatabase>;

  constructor(
    handle: DatabaseHandle,
    private readonly now: () => Date = () => new Date(),
  ) {
    this.db = handle.kysely<AuditDatabase>(AUDIT_SCHEMA);
  }

  async append(event: AuditEvent): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${APPEND_LOCK.toString()}::bigint)`.execute(trx);
      const head = await trx.selectFrom('audit_log').select(['seq', 'hash']).orderBy('seq', 'desc').limit(1).executeTakeFirst();
      // Milliseconds: what a JS Date and timestamptz both keep exactly, so the hash round-trips.
      const occurredAt = new Date(Math.floor(this.now().getTime()));
      const entry = {
        seq: head ? BigInt(head.seq) + 1n : 1n,
        occurredAt,
        actorKind: event.actorKind,
        actor: clip(event.actor),
        action: clip(event.action),
        target: clip(event.target),
        outcome: clip(event.outcome),
        detail: cleanDetail(event.detail),
        prevHash: head?.hash ?? GENESIS_HASH,
      };
      await trx
        .insertInto('audit_log')
        .values({
          seq: entry.seq,
          occurred_at: entry.occurredAt,
          actor_kind: entry.actorKind,
          actor: entry.actor,
          action: entry.action,
          target: entry.target,
          outcome: entry.outcome,
          detail: JSON.stringify(entry.detail),
          prev_hash: entry.prevHash,
          hash: hashOf(entry),
        })
        .execute();
    });
  }

  /** Rows after `afterSeq`, oldest first (newest first with `newestFirst`, before `afterSeq` when given). */
  async list(options: { afterSeq?: bigint; limit?: number; newestFirst?: boolean } = {}): Promise<AuditEntry[]> {
    const limit = Math.min(Math.max(options.limit ?? 50, 1), 1000);
    let query = this.db.selectFrom('audit_log').selectAll();
    if (options.newestFirst) {
      if (options.afterSeq !== undefined && options.afterSeq > 0n) query = query.where('seq', '<', options.afterSeq);
      query = query.orderBy('seq', 'desc');
    } else {
      if (options.afterSeq !== undefined) query = query.where('seq', '>', options.afterSeq);
      query = query.orderBy('seq', 'asc');
    }
    const rows = (await query.limit(limit).execute()) as unknown as Row[];
    return rows.map(toEntry);
  }

  /**
   * Walks the whole chain in pages and reports the first broken link: a missing row (gap), a row
   * whose previous hash is not its predecessor's, or a row whose content no longer matches its
   * hash. The head (last seq and hash) is what to record outside the database: the chain alone
   * cannot show that rows were cut off its end.
   */
  async verify(pageSize = 1000): Promise<VerifyResult> {
    let tail = { hash: GENESIS_HASH, seq: 0n };
    for (;;) {
      const page = await this.list({ afterSeq: tail.seq, limit: pageSize });
      if (page.length === 0) return { ok: true, rows: tail.seq, head: tail };
      const checked = checkLinks(page, tail);
      if ('broken' in checked) return { ok: false, broken: checked.broken };
      tail = checked.tail;
    }
  }
}
