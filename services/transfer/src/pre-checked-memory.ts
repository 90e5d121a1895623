/**
 * What GetPreCheck stored for a transfer, kept in this process's memory so that the transfer's
 * first Execute here need not read the row back (issue 17: one statement less per transfer).
 *
 * Only facts that never change after the insert are kept (who, from where, to whom, how much, the
 * process and its signed bytes); the state is not, so a remembered transfer is only a candidate
 * for the decision: the decision itself stays the conditional UPDATE (PENDING → EXECUTING), which
 * fails when another call (another instance, a concurrent retry) decided first, and the caller
 * then reads the row as without this memory. A restart, another instance or an eviction is a
 * miss, and a miss is the read it saves. Bounded in age and in size, so memory does not grow with
 * pre-checks that are never executed.
 */
export interface PreCheckedFacts {
  id: string;
  userId: string;
  sourceAccountNumber: string;
  targetInstitutionCode: string;
  targetAccountNumber: string;
  amountMinor: bigint;
  processId: string;
  /** The process's context: Execute consumes the process with it. */
  processContext: string;
  signedContent: string;
  targetOwnerUserId: string | null;
}

/**
 * Ten minutes: twice an authentication process's default life (KFRM_USER_PROCESS_TTL_SECONDS, 5
 * minutes), so nearly every Execute that can still succeed finds its transfer; a later one reads the row.
 */
export const PRE_CHECKED_MAX_AGE_MS = 10 * 60_000;
export const PRE_CHECKED_MAX_ENTRIES = 10_000;

export class PreCheckedTransfers {
  /** By process id, in insertion order (so the first entry is the oldest). */
  private readonly entries = new Map<string, { facts: PreCheckedFacts; at: number }>();

  constructor(
    private readonly clock: () => Date,
    private readonly maxAgeMs = PRE_CHECKED_MAX_AGE_MS,
    private readonly maxEntries = PRE_CHECKED_MAX_ENTRIES,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  remember(facts: PreCheckedFacts): void {
    const now = this.clock().getTime();
    this.entries.delete(facts.processId);
    this.entries.set(facts.processId, { facts, at: now });
    // Oldest first: past their age, then beyond the bound.
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && now - entry.at <= this.maxAgeMs) break;
      this.entries.delete(key);
    }
  }

  /** The facts of this process's transfer, once: the first Execute takes them, later ones read the row. */
  take(processId: string): PreCheckedFacts | undefined {
    const entry = this.entries.get(processId);
    if (!entry) return undefined;
    this.entries.delete(processId);
    return this.clock().getTime() - entry.at <= this.maxAgeMs ? entry.facts : undefined;
  }
}
