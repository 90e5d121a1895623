export interface StatementBatcherOptions {
  /** Most requests in one statement. Default 64. */
  maxBatch?: number;
  /** Statements of this kind on their way at once; requests beyond wait for one to return. Default 2. */
  maxInFlight?: number;
}

export interface StatementBatcherRules<Request> {
  /**
   * When given, requests with the same key never travel together nor in two statements at once:
   * a request whose key is in a statement on its way waits for it, in arrival order. Writes use
   * it, so that each key's writes apply one after another, as they would alone.
   */
  keyOf?: (request: Request) => string;
  /**
   * When given and true for a batch's error, each of the batch's requests is sent again on its
   * own, so that one request's failure is its own (a write whose row breaks a constraint) and
   * the others get the outcome they would have had alone.
   */
  retryAloneAfter?: (err: unknown) => boolean;
}

interface Waiting<Request, Answer> {
  request: Request;
  resolve: (answer: Answer) => void;
  reject: (err: unknown) => void;
}

/**
 * The scheduling of batched statements (ADRs 0026, 0027). `runMany` answers a list of requests in
 * one statement, an answer per request in the same order.
 *
 * Scheduled like the ledger's poster, not like DataLoader: a request that finds a free slot
 * (fewer than `maxInFlight` statements out) starts at once, so an idle server adds no wait; the
 * requests that arrive while every slot is busy queue, and the next free slot takes them (up to
 * `maxBatch`) as one statement. A batch's statement starts no earlier than any of its requests
 * arrived.
 *
 * A statement that fails fails every request it carried, with its error, unless the rules ask
 * for a retry of each alone. A statement that answers the wrong number of rows fails them too,
 * rather than hand out rows.
 */
export class StatementBatcher<Request, Answer> {
  private readonly maxBatch: number;
  private readonly maxInFlight: number;
  private queue: Waiting<Request, Answer>[] = [];
  private inFlight = 0;
  /** Keys of the requests in statements on their way (only with `keyOf`). */
  private readonly busyKeys = new Set<string>();

  constructor(
    private readonly runMany: (requests: readonly Request[]) => Promise<readonly Answer[]>,
    options: StatementBatcherOptions = {},
    private readonly rules: StatementBatcherRules<Request> = {},
  ) {
    this.maxBatch = options.maxBatch ?? 64;
    this.maxInFlight = options.maxInFlight ?? 2;
    if (!Number.isInteger(this.maxBatch) || this.maxBatch < 1) throw new RangeError('maxBatch must be a positive integer');
    if (!Number.isInteger(this.maxInFlight) || this.maxInFlight < 1) throw new RangeError('maxInFlight must be a positive integer');
  }

  run(request: Request): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, resolve, reject });
      this.drain();
    });
  }

  private drain(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch = this.takeBatch();
      // Every queued request waits for a key on its way: the statement carrying it starts them.
      if (batch.length === 0) return;
      this.start(batch);
    }
  }

  private takeBatch(): Waiting<Request, Answer>[] {
    const { keyOf } = this.rules;
    if (!keyOf) return this.queue.splice(0, this.maxBatch);
    const batch: Waiting<Request, Answer>[] = [];
    const left: Waiting<Request, Answer>[] = [];
    // A key passed over stays passed over for the rest of the queue, so its requests keep their order.
    const passedOver = new Set<string>();
    for (const waiting of this.queue) {
      const key = keyOf(waiting.request);
      if (batch.length < this.maxBatch && !this.busyKeys.has(key) && !passedOver.has(key)) {
        batch.push(waiting);
        this.busyKeys.add(key);
      } else {
        left.push(waiting);
        passedOver.add(key);
      }
    }
    this.queue = left;
    return batch;
  }

  private start(batch: Waiting<Request, Answer>[]): void {
    this.inFlight++;
    this.answer(batch)
      .catch((err: unknown) => {
        if (batch.length > 1 && this.rules.retryAloneAfter?.(err)) return this.answerEachAlone(batch);
        for (const b of batch) b.reject(err);
      })
      .finally(() => {
        const { keyOf } = this.rules;
        if (keyOf) for (const b of batch) this.busyKeys.delete(keyOf(b.request));
        this.inFlight--;
        this.drain();
      });
  }

  /** Runs the batch's statement and hands out its answers; rejects (and answers none) when it fails. */
  private async answer(batch: Waiting<Request, Answer>[]): Promise<void> {
    const answers = await this.runMany(batch.map((b) => b.request));
    if (answers.length !== batch.length)
      throw new Error(`a batched statement answered ${answers.length} rows for ${batch.length} requests`);
    batch.forEach((b, i) => b.resolve(answers[i] as Answer));
  }

  /** One statement per request, one after another, in the slot the batch had. */
  private async answerEachAlone(batch: Waiting<Request, Answer>[]): Promise<void> {
    for (const b of batch) {
      try {
        await this.answer([b]);
      } catch (err) {
        b.reject(err);
      }
    }
  }
}

/** One value per database handle, made on first use (a repository's batcher for each handle). */
export function perDatabase<Db extends object, Value>(make: (db: Db) => Value): (db: Db) => Value {
  const made = new WeakMap<Db, Value>();
  return (db) => {
    let value = made.get(db);
    if (value === undefined) {
      value = make(db);
      made.set(db, value);
    }
    return value;
  };
}
