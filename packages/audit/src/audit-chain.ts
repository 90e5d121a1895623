import { createHash } from 'node:crypto';
import type { AuditEntry } from './audit-event';

/** The first row's previous hash. */
export const GENESIS_HASH = '0'.repeat(64);

const MAX_FIELD = 200;

/**
 * The bytes a row's hash covers: every stored field, the previous row's hash first, as a JSON
 * array (unambiguous: no separator can be smuggled into a field) with the detail's keys sorted
 * (jsonb does not keep the order they were written in).
 */
export function canonicalForm(entry: Omit<AuditEntry, 'hash'>): string {
  const detail = Object.entries(entry.detail).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([
    entry.prevHash,
    entry.seq.toString(),
    entry.occurredAt.toISOString(),
    entry.actorKind,
    entry.actor,
    entry.action,
    entry.target,
    entry.outcome,
    detail,
  ]);
}

export function hashOf(entry: Omit<AuditEntry, 'hash'>): string {
  return createHash('sha256').update(canonicalForm(entry)).digest('hex');
}

/** Fields are short by construction; a longer one is cut, never refused (the event must be recorded). */
export function clip(value: string): string {
  return value.length > MAX_FIELD ? value.slice(0, MAX_FIELD) : value;
}

export type ChainBreak =
  | { seq: bigint; problem: 'gap'; expectedSeq: bigint }
  | { seq: bigint; problem: 'previous hash differs'; expected: string; stored: string }
  | { seq: bigint; problem: 'row hash differs'; expected: string; stored: string };

/**
 * Checks rows in seq order against the hash before them (`previous`: the last verified row's hash
 * and seq, or the genesis). Returns the first break, or the new tail to continue from.
 */
export function checkLinks(
  rows: AuditEntry[],
  previous: { hash: string; seq: bigint },
): { broken: ChainBreak } | { tail: { hash: string; seq: bigint } } {
  let tail = previous;
  for (const row of rows) {
    if (row.seq !== tail.seq + 1n) return { broken: { seq: row.seq, problem: 'gap', expectedSeq: tail.seq + 1n } };
    if (row.prevHash !== tail.hash)
      return { broken: { seq: row.seq, problem: 'previous hash differs', expected: tail.hash, stored: row.prevHash } };
    const expected = hashOf(row);
    if (expected !== row.hash) return { broken: { seq: row.seq, problem: 'row hash differs', expected, stored: row.hash } };
    tail = { hash: row.hash, seq: row.seq };
  }
  return { tail };
}
