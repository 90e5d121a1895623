import type { Kysely } from 'kysely';
import { RateLimitedError } from '@kfrm/errors';
import type { LiveStream, LiveStreams, StreamSession } from './live-streams';
import type { NotificationEvent } from './notification-event';
import { listUserEventsAfter } from './notification.repository';
import type { NotificationDatabase } from './notification.table';
import type { StreamSlots } from './stream-slots';

export interface SubscriptionOptions {
  /** Live events buffered for one stream while its client is slow; beyond it the stream ends. */
  queueLimit: number;
  /** At most this many of the user's events are replayed after `last-event-id` (the newest ones). */
  replayLimit: number;
}

/** RESOURCE_EXHAUSTED ("retry later"): the user holds as many streams as allowed. */
export class TooManyStreamsError extends RateLimitedError {
  override name = 'TooManyStreamsError';
}

/**
 * RESOURCE_EXHAUSTED ("retry later"): the client did not read fast enough and its queue filled;
 * it reconnects with `last-event-id`.
 */
export class SubscriberTooSlowError extends RateLimitedError {
  override name = 'SubscriberTooSlowError';
}

export interface SubscriptionDeps {
  db: Kysely<NotificationDatabase>;
  /** The replica's open streams and its shared store subscriptions. */
  streams: LiveStreams;
  slots: StreamSlots;
  options: SubscriptionOptions;
  /** Called once a stream is live (subscribed and replayed); tests wait on it instead of sleeping. */
  onLive?: (userId: string) => void;
  /** Counts a stream held open; returns what closes it (the subscribers gauge). */
  onStreamOpen?: () => () => void;
}

/**
 * Streams one user's events until `signal` aborts (client gone, deadline, shutdown: returns
 * normally), the client falls `queueLimit` events behind (throws SubscriberTooSlowError), or the
 * session is revoked (throws UNAUTHENTICATED; see live-streams.ts).
 *
 * Order of work, so nothing falls between replay and live: join the replica's live streams
 * first (live events buffer in a bounded queue), then replay the stored events after
 * `lastEventId`, then drain the queue, skipping every id not above the last one sent. Ids
 * increase per user, so "not above the last sent" is exactly "already sent".
 *
 * When the store reports a gap (its connection was lost and the subscription is active again),
 * live events published meanwhile are gone: the stream reads the stored events after the last
 * one sent, as a reconnecting client would, before it drains the queue again. The relay copies
 * events into `events` before it publishes them, so every event is in one of the two.
 *
 * The slot is released in `finally`, before the handler's error or end reaches the client: a
 * phone told UNAUTHENTICATED, or the new phone of the same user, finds it free.
 */
export async function streamUserEvents(
  deps: SubscriptionDeps,
  session: StreamSession,
  lastEventId: bigint | undefined,
  signal: AbortSignal,
  write: (event: NotificationEvent) => Promise<void>,
): Promise<void> {
  const userId = session.userId;
  const slot = await deps.slots.acquire(userId);
  if (!slot) throw new TooManyStreamsError('too many notification streams for this user');
  const closeGauge = deps.onStreamOpen?.();
  const feed = new StreamFeed(session, deps.options.queueLimit, signal, write, lastEventId ?? 0n);
  // The feed itself is the listener (handleEvent): no closure per stream.
  signal.addEventListener('abort', feed);
  let joined = false;
  try {
    await deps.streams.add(feed);
    joined = true;
    if (lastEventId !== undefined && !(await feed.replay(deps, lastEventId))) return;
    deps.onLive?.(userId);
    for (;;) {
      if (signal.aborted) return;
      feed.check();
      if (feed.held) {
        await feed.waitForWork();
        continue;
      }
      if (feed.gapSeen) {
        feed.gapSeen = false;
        // A failed read ends the stream (UNAVAILABLE); the client resumes from its last id.
        if (!(await feed.replay(deps, feed.lastSent))) return;
        continue;
      }
      const event = feed.queue.shift();
      if (!event) {
        await feed.waitForWork();
        continue;
      }
      if (!(await feed.send(event))) return;
    }
  } finally {
    signal.removeEventListener('abort', feed);
    if (joined) deps.streams.remove(feed);
    await slot.release();
    closeGauge?.();
  }
}

/**
 * One stream's state between the replica's live events and its writer. A class rather than a
 * dozen closures: with 10,000 idle streams open, what each holds is most of the replica's memory
 * (docs/performance.md, "Notification fan-out").
 */
class StreamFeed implements LiveStream {
  /** Live events not written yet, in publish order (bounded by `queueLimit`). */
  readonly queue: NotificationEvent[] = [];
  lastSent: bigint;
  overflow = false;
  gapSeen = false;
  held = false;
  ended: Error | undefined;
  private wake: (() => void) | undefined;
  /**
   * Settles when the queue overflows or the stream is ended, so a write stuck on a client that
   * stopped reading is not waited for: the stream ends and releases its slot. Made at the first
   * write (an idle stream has none).
   */
  private interruption: Promise<void> | undefined;
  private interrupt: (() => void) | undefined;

  constructor(
    readonly session: StreamSession,
    private readonly queueLimit: number,
    private readonly signal: AbortSignal,
    private readonly write: (event: NotificationEvent) => Promise<void>,
    lastSent: bigint,
  ) {
    this.lastSent = lastSent;
  }

  deliver(event: NotificationEvent): void {
    if (this.overflow || this.ended) return;
    if (this.queue.length >= this.queueLimit) {
      // Drop what is buffered: the client resumes from the last id it saw, which the replay covers.
      this.overflow = true;
      this.queue.length = 0;
      this.interrupt?.();
    } else {
      this.queue.push(event);
    }
    this.notify();
  }

  gap(): void {
    this.gapSeen = true;
    this.notify();
  }

  hold(value: boolean): void {
    this.held = value;
    this.notify();
  }

  end(error: Error): void {
    this.ended ??= error;
    this.interrupt?.();
    this.notify();
  }

  /** The abort listener (EventTarget calls handleEvent on an object listener). */
  handleEvent(): void {
    this.notify();
  }

  check(): void {
    if (this.ended) throw this.ended;
    if (this.overflow) throw new SubscriberTooSlowError('notification stream fell too far behind');
  }

  waitForWork(): Promise<void> {
    return new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** Writes `event` unless already sent; false when the call was aborted meanwhile. */
  async send(event: NotificationEvent): Promise<boolean> {
    if (event.id <= this.lastSent) return true;
    const written = this.write(event);
    // The write may still reject (at abort) after the race is decided; that is expected.
    written.catch(() => undefined);
    try {
      await Promise.race([written, this.interrupted()]);
    } catch (err) {
      if (this.signal.aborted) return false;
      throw err;
    }
    this.check();
    this.lastSent = event.id;
    return true;
  }

  /** Sends the stored events after `afterId`; false when the stream ended meanwhile. */
  async replay(deps: SubscriptionDeps, afterId: bigint): Promise<boolean> {
    for (const event of await listUserEventsAfter(deps.db, this.session.userId, afterId, deps.options.replayLimit)) {
      if (this.signal.aborted) return false;
      this.check();
      // A revocation announced during the replay: nothing more until the session is re-checked.
      while (this.held && !this.ended && !this.signal.aborted) await this.waitForWork();
      this.check();
      if (!(await this.send(event))) return false;
    }
    return true;
  }

  private interrupted(): Promise<void> {
    if (!this.interruption) {
      this.interruption = new Promise<void>((resolve) => (this.interrupt = resolve));
      // Already overflowed or ended before the first write: settled at once.
      if (this.overflow || this.ended) this.interrupt!();
    }
    return this.interruption;
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}
