import { decodeRevocationFact, REVOCATION_FACTS_CHANNEL, type RevocationFact } from '@kfrm/device-trust';
import { DependencyUnavailableError } from '@kfrm/errors';
import type { Logger } from '@kfrm/logging';
import { unauthenticated } from '@kfrm/server-kit';
import type { Store, Unsubscribe } from '@kfrm/store';
import { decodeEvents, EVENTS_CHANNEL, type NotificationEvent } from './notification-event';

/** The session a stream was opened with (as the access guard resolved it). */
export interface StreamSession {
  userId: string;
  deviceId: string;
  sessionToken: string;
}

/**
 * Whether the session is still live now (not revoked, expired or rotated, its user ACTIVATED on
 * that device). Rejects when that cannot be told (the user service is unreachable).
 */
export type SessionCheck = (session: StreamSession) => Promise<boolean>;

/** UNAVAILABLE: a revocation was announced for the stream's user and its session could not be checked. */
export class SessionRecheckUnavailableError extends DependencyUnavailableError {
  override name = 'SessionRecheckUnavailableError';
}

/** What the hub needs of one open stream. */
export interface LiveStream {
  readonly session: StreamSession;
  /** A live event of the stream's user, in publish order. */
  deliver(event: NotificationEvent): void;
  /** Live events may have been lost (the store subscription was re-established). */
  gap(): void;
  /** Holds (true) or resumes (false) writing while the session is re-checked after a revocation. */
  hold(held: boolean): void;
  /** Ends the stream with this error (UNAUTHENTICATED for a revoked session). */
  end(error: Error): void;
}

export interface LiveStreamsOptions {
  /** Every stream's session is re-checked this often (a revocation fact may have been lost). */
  recheckMs: number;
  /** Session checks run at most this many at a time (a re-check of every stream is a burst). */
  recheckConcurrency?: number;
}

/**
 * The replica's open streams and its two store subscriptions, shared by all of them: the events
 * channel (every user's events, handed to that user's streams here in memory) and the
 * revocation-facts channel. Nothing is subscribed or unsubscribed per stream.
 *
 * Revocations: a fact about a user's sessions holds that user's matching streams (nothing more is
 * written to them) and re-checks each one's session; a stream whose session is no longer live ends
 * with UNAUTHENTICATED, one that cannot be checked ends with UNAVAILABLE (fail closed: something
 * was revoked), the others resume. A revoked device ends its streams at once (device revocation
 * is final). Because a fact can be lost, every stream is also re-checked after a gap in the facts
 * subscription and every `recheckMs`; those re-checks keep a stream whose check fails for want of
 * the user service (it was valid at its last check) and try again next time.
 */
export class LiveStreams {
  private readonly byUser = new Map<string, Set<LiveStream>>();
  private readonly factChecks = new Map<LiveStream, number>();
  private ready: Promise<void> | undefined;
  private subscriptions: Unsubscribe[] = [];
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private closed = false;

  constructor(
    /** The service's store view: the events channel. */
    private readonly events: Store,
    /** The store itself (unprefixed): the revocation-facts channel every service publishes on. */
    private readonly facts: Store,
    private readonly checkSession: SessionCheck,
    private readonly logger: Logger,
    private readonly options: LiveStreamsOptions,
  ) {}

  /** How many streams are open on this replica. */
  get size(): number {
    let n = 0;
    for (const set of this.byUser.values()) n += set.size;
    return n;
  }

  /**
   * Adds a stream once the shared subscriptions are active (so every event published from now on
   * reaches it); `remove` takes it out again (synchronous: closing awaits no store call).
   */
  async add(stream: LiveStream): Promise<void> {
    await this.start();
    const userId = stream.session.userId;
    let set = this.byUser.get(userId);
    if (!set) {
      set = new Set();
      this.byUser.set(userId, set);
    }
    set.add(stream);
  }

  /**
   * Subscribes the shared channels now instead of at the first stream. After a (re)start, a burst
   * of reconnecting streams otherwise all waited on one SUBSCRIBE made in the middle of that
   * burst, and all failed with it when the busy process let it time out (bench/fanout.ts: 10,000
   * opens at once, every one UNAVAILABLE). A failure here is logged; the next stream tries again.
   */
  prepare(): void {
    this.start().catch((err: unknown) => this.logger.warn({ err }, 'shared subscriptions not ready; the next stream retries'));
  }

  remove(stream: LiveStream): void {
    const userId = stream.session.userId;
    const current = this.byUser.get(userId);
    if (!current?.delete(stream)) return;
    if (current.size === 0) this.byUser.delete(userId);
    this.factChecks.delete(stream);
  }

  /** Re-checks every open stream's session now (also what the timer and a facts gap do). */
  async recheckAll(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      const all = [...this.byUser.values()].flatMap((set) => [...set]);
      let next = 0;
      const worker = async () => {
        while (next < all.length && !this.closed) {
          const stream = all[next++]!;
          try {
            if (!(await this.checkSession(stream.session))) stream.end(unauthenticated());
          } catch (err) {
            this.logger.warn({ err, user_id: stream.session.userId }, 'session re-check failed; the stream stays until the next one');
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(all.length, this.options.recheckConcurrency ?? 8) }, worker));
    } finally {
      this.sweeping = false;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    const subscriptions = this.subscriptions;
    this.subscriptions = [];
    await Promise.all(subscriptions.map((unsubscribe) => unsubscribe()));
  }

  private start(): Promise<void> {
    this.ready ??= this.subscribe().catch(async (err: unknown) => {
      // Not ready: the stream fails (UNAVAILABLE) and the next one tries again.
      this.ready = undefined;
      const partial = this.subscriptions;
      this.subscriptions = [];
      await Promise.all(partial.map((unsubscribe) => unsubscribe()));
      throw err;
    });
    return this.ready;
  }

  private async subscribe(): Promise<void> {
    this.subscriptions.push(
      await this.facts.subscribe(
        REVOCATION_FACTS_CHANNEL,
        (message) => {
          const fact = decodeRevocationFact(message);
          if (fact) this.onFact(fact);
        },
        // Facts published while the connection was down are lost: check everything.
        { onGap: () => void this.recheckAll() },
      ),
    );
    this.subscriptions.push(
      await this.events.subscribe(
        EVENTS_CHANNEL,
        (message) => {
          for (const event of decodeEvents(message)) {
            const streams = this.byUser.get(event.userId);
            if (streams) for (const stream of streams) stream.deliver(event);
          }
        },
        {
          onGap: () => {
            for (const set of this.byUser.values()) for (const stream of set) stream.gap();
          },
        },
      ),
    );
    if (this.closed) return;
    this.timer = setInterval(() => void this.recheckAll(), this.options.recheckMs);
    this.timer.unref();
  }

  private onFact(fact: RevocationFact): void {
    if (fact.kind === 'device') {
      for (const set of this.byUser.values())
        for (const stream of set) if (stream.session.deviceId === fact.deviceId) stream.end(unauthenticated());
      return;
    }
    const streams = this.byUser.get(fact.userId);
    if (!streams) return;
    for (const stream of streams) {
      if (fact.deviceId !== null && stream.session.deviceId !== fact.deviceId) continue;
      void this.checkAfterFact(stream);
    }
  }

  /** Holds the stream while its session is checked: an event after the revocation never reaches it. */
  private async checkAfterFact(stream: LiveStream): Promise<void> {
    this.factChecks.set(stream, (this.factChecks.get(stream) ?? 0) + 1);
    stream.hold(true);
    let live: boolean;
    try {
      live = await this.checkSession(stream.session);
    } catch (err) {
      this.logger.warn({ err, user_id: stream.session.userId }, 'session re-check after a revocation failed; the stream ends');
      stream.end(new SessionRecheckUnavailableError('the session could not be checked after a revocation', { cause: err }));
      return;
    }
    if (!live) {
      stream.end(unauthenticated());
      return;
    }
    const pending = (this.factChecks.get(stream) ?? 1) - 1;
    if (pending > 0) {
      this.factChecks.set(stream, pending);
      return;
    }
    this.factChecks.delete(stream);
    stream.hold(false);
  }
}
