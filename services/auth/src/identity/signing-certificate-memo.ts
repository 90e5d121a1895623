/**
 * The active signing certificate a transfer's authentication read with the factor, kept for the
 * Execute that follows (ADR 0028). The app signs the transfer right after its PIN or biometric
 * check succeeds, and the user service then asks for the certificate
 * (`CredentialService.GetActiveSigningCertificate`): without the memo that is one more statement
 * per transfer, for a row read a few milliseconds before.
 *
 * An entry serves one request, at most `maxAgeMs` (1 s, the bound ADR 0013 gives sessions and
 * device revocation) after the read that found it started, and never at or past the
 * certificate's `notAfter`. Whatever changes a user's certificates in this process first drops
 * what is remembered for that user (`forget`), and a read that was on its way meanwhile is not
 * remembered (it may have seen the certificate before the change). A change made by another process is seen within the same
 * second, or at once by a request the memo does not answer.
 */
export interface RememberedCertificate {
  der: Uint8Array;
  serialNumber: string;
  notAfter: Date;
}

interface Entry {
  certificate: RememberedCertificate;
  /** Monotonic ms when the read that found it started. */
  readStartedAt: number;
}

/** Taken before the read ({@link SigningCertificateMemo.beforeRead}), handed to `remember` after it. */
export interface MemoReadTicket {
  readonly readStartedAt: number;
  readonly forgets: number;
}

export interface SigningCertificateMemoOptions {
  /** How long after its read started an entry may answer (default 1,000 ms). */
  maxAgeMs?: number;
  /** Entries kept at most; the oldest go first (default 10,000: ≈ 1 KB each). */
  maxEntries?: number;
  /** Monotonic clock, ms (tests). */
  monotonicNow?: () => number;
}

export class SigningCertificateMemo {
  private readonly entries = new Map<string, Entry>();
  /** How many times `forget` ran: a read that saw it change may hold what was forgotten. */
  private forgets = 0;
  private readonly maxAgeMs: number;
  private readonly maxEntries: number;
  /** Monotonic ms: entries' ages must not follow the wall clock's jumps. */
  private readonly monotonicNow: () => number;

  constructor(options: SigningCertificateMemoOptions = {}) {
    this.maxAgeMs = options.maxAgeMs ?? 1_000;
    this.maxEntries = options.maxEntries ?? 10_000;
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
    if (!(this.maxAgeMs >= 0 && this.maxAgeMs <= 1_000)) throw new RangeError('maxAgeMs must be within [0, 1000]');
    if (!(Number.isInteger(this.maxEntries) && this.maxEntries >= 1)) throw new RangeError('maxEntries must be a positive integer');
  }

  /** Taken just before the read whose certificate may be remembered. */
  beforeRead(): MemoReadTicket {
    return { readStartedAt: this.monotonicNow(), forgets: this.forgets };
  }

  /**
   * Keeps what the read of `ticket` found, unless a `forget` ran since the ticket was taken (of
   * any user: they are rare, and the read may have been answered before the change committed).
   */
  remember(userId: bigint, certificate: RememberedCertificate, ticket: MemoReadTicket): void {
    if (ticket.forgets !== this.forgets) return;
    const { readStartedAt } = ticket;
    const key = String(userId);
    // Re-inserted, so the Map's order stays the order of the reads.
    this.entries.delete(key);
    while (this.entries.size >= this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { certificate, readStartedAt });
  }

  /** The user's remembered certificate if it may still answer at `now`, once: the entry is gone afterwards. */
  take(userId: bigint, now: Date): RememberedCertificate | undefined {
    const key = String(userId);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    const age = this.monotonicNow() - entry.readStartedAt;
    if (!(age >= 0 && age <= this.maxAgeMs)) return undefined;
    if (!(now.getTime() < entry.certificate.notAfter.getTime())) return undefined;
    return entry.certificate;
  }

  /** The user's certificates are changing here (activation, revocation): nothing remembered for them may answer. */
  forget(userId: bigint): void {
    this.forgets++;
    this.entries.delete(String(userId));
  }

  /**
   * Runs a change of the user's certificates: forgotten before it (nothing remembered answers
   * while it runs) and again once it is over, committed or not (a read that started before the
   * commit is not remembered).
   */
  async whileChanging<T>(userId: bigint, change: () => Promise<T>): Promise<T> {
    this.forget(userId);
    try {
      return await change();
    } finally {
      this.forget(userId);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
