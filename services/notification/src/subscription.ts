import type { Kysely } from 'kysely';
import type { CallEndWatcher } from '@kfrm/server-kit';
import { RateLimitedError } from '@kfrm/errors';
import type { LiveStream, LiveStreams, StreamSession } from './live-streams';
import type { NotificationEvent } from './notification-event';
import { listUserEventsAfter } from './notification.repository';
import type { NotificationDatabase } from './notification.table';
import type { StreamSlot, StreamSlots } from './stream-slots';

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
 * Streams one user's events to `sink` until its call ends (client gone, deadline, shutdown: resolves),
 * the client falls `queueLimit` events behind (rejects with SubscriberTooSlowError), or the
 * session is revoked (rejects with UNAUTHENTICATED; see live-streams.ts).
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
 * The slot is released before the returned promise settles, so before the handler's error or
 * end reaches the client: a phone told UNAUTHENTICATED, or the new phone of the same user, finds
 * it free.
 */
export function streamUserEvents(
  deps: SubscriptionDeps,
  session: StreamSession,
  lastEventId: bigint | undefined,
  sink: EventSink,
): Promise<void> {
  // The feed's own promise, not one that follows it (each link would be kept while the stream is open).
  return new StreamFeed(deps, session, sink, lastEventId).open();
}

/** Where a stream's events go (the handler's writer, in the client's message), and whether its call still runs. */
export interface EventSink {
  /** Resolves once the event is handed to the transport (waits while the client is slow). */
  write(event: NotificationEvent): Promise<void>;
  /** The call has ended (client gone, deadline, shutdown). */
  readonly ended: boolean;
  /**
   * Tells the feed when the call ends (the server kit's StreamWriter.watchEnd: one reference,
   * where a listener on the call's AbortSignal kept ≈ 0.6 KB per open stream).
   */
  watchEnd(watcher: CallEndWatcher | undefined): void;
}

/**
 * One stream's state between the replica's live events and its writer. A class rather than a
 * dozen closures, and driven by what happens to it (an event, a gap, a hold, the end) rather than
 * by a loop waiting for work: with 10,000 idle streams open, what each holds is most of the
 * replica's memory (docs/performance.md, "Notification fan-out"). While a stream is idle no
 * function of it is suspended; {@link pump} runs when there is something to do and returns when
 * there is not.
 */
class StreamFeed implements LiveStream, CallEndWatcher {
  /** Live events not written yet, in publish order (bounded by `queueLimit`). */
  readonly queue: NotificationEvent[] = [];
  lastSent: bigint;
  overflow = false;
  gapSeen = false;
  held = false;
  ended: Error | undefined;
  /** The replay at opening or pump is running: what happens meanwhile is seen by it. */
  private busy = true;
  private joined = false;
  private closed = false;
  private slot: StreamSlot | undefined;
  private closeGauge: (() => void) | undefined;
  private resolveEnded: (() => void) | undefined;
  private rejectEnded: ((err: unknown) => void) | undefined;
  /** Only while a replay waits out a hold. */
  private wake: (() => void) | undefined;
  /**
   * Settles when the queue overflows or the stream is ended, so a write stuck on a client that
   * stopped reading is not waited for: the stream ends and releases its slot. Made at the first
   * write (an idle stream has none).
   */
  private interruption: Promise<void> | undefined;
  private interrupt: (() => void) | undefined;

  constructor(
    private readonly deps: SubscriptionDeps,
    readonly session: StreamSession,
    private readonly sink: EventSink,
    private readonly lastEventId: bigint | undefined,
  ) {
    this.lastSent = lastEventId ?? 0n;
  }

  /** Takes a slot, joins the live streams, replays, then pumps; settles when the stream ends. */
  open(): Promise<void> {
    const ended = new Promise<void>((resolve, reject) => {
      this.resolveEnded = resolve;
      this.rejectEnded = reject;
    });
    void this.join();
    return ended;
  }

  deliver(event: NotificationEvent): void {
    if (this.overflow || this.ended) return;
    if (this.queue.length >= this.deps.options.queueLimit) {
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

  /** The call ended (client gone, deadline, shutdown). */
  callEnded(): void {
    this.notify();
  }

  private check(): void {
    if (this.ended) throw this.ended;
    if (this.overflow) throw new SubscriberTooSlowError('notification stream fell too far behind');
  }

  private async join(): Promise<void> {
    let slot: StreamSlot | undefined;
    try {
      slot = await this.deps.slots.acquire(this.session.userId);
      if (!slot) throw new TooManyStreamsError('too many notification streams for this user');
    } catch (err) {
      // Nothing taken yet: nothing to give back.
      this.closed = true;
      return this.rejectEnded!(err);
    }
    this.slot = slot;
    this.closeGauge = this.deps.onStreamOpen?.();
    this.sink.watchEnd(this);
    try {
      await this.deps.streams.add(this);
      this.joined = true;
      if (this.lastEventId !== undefined && !(await this.replay(this.lastEventId))) return this.close();
      this.deps.onLive?.(this.session.userId);
    } catch (err) {
      return this.close(err, true);
    }
    this.busy = false;
    return this.pump();
  }

  /** Does what there is to do, then returns (an event, a gap, a hold or the end calls it again). */
  private async pump(): Promise<void> {
    if (this.busy || this.closed) return;
    this.busy = true;
    try {
      for (;;) {
        if (this.sink.ended) return await this.close();
        this.check();
        if (this.held) return;
        if (this.gapSeen) {
          this.gapSeen = false;
          // A failed read ends the stream (UNAVAILABLE); the client resumes from its last id.
          if (!(await this.replay(this.lastSent))) return await this.close();
          continue;
        }
        const event = this.queue.shift();
        if (!event) return;
        if (!(await this.send(event))) return await this.close();
      }
    } catch (err) {
      return await this.close(err, true);
    } finally {
      this.busy = false;
    }
  }

  /**
   * Leaves the live streams and gives the slot back, then settles the stream: ended (`failed`
   * false) or with `error`.
   */
  private async close(error?: unknown, failed = false): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.sink.watchEnd(undefined);
    if (this.joined) this.deps.streams.remove(this);
    await this.slot!.release();
    this.closeGauge?.();
    if (failed) this.rejectEnded!(error);
    else this.resolveEnded!();
  }

  private waitForWork(): Promise<void> {
    return new Promise<void>((resolve) => (this.wake = resolve));
  }

  /** Writes `event` unless already sent; false when the call was aborted meanwhile. */
  private async send(event: NotificationEvent): Promise<boolean> {
    if (event.id <= this.lastSent) return true;
    const written = this.sink.write(event);
    // The write may still reject (at abort) after the race is decided; that is expected.
    written.catch(() => undefined);
    try {
      await Promise.race([written, this.interrupted()]);
    } catch (err) {
      if (this.sink.ended) return false;
      throw err;
    }
    this.check();
    this.lastSent = event.id;
    return true;
  }

  /** Sends the stored events after `afterId`; false when the stream ended meanwhile. */
  private async replay(afterId: bigint): Promise<boolean> {
    const { deps } = this;
    for (const event of await listUserEventsAfter(deps.db, this.session.userId, afterId, deps.options.replayLimit)) {
      if (this.sink.ended) return false;
      this.check();
      // A revocation announced during the replay: nothing more until the session is re-checked.
      while (this.held && !this.ended && !this.sink.ended) await this.waitForWork();
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

  /** Wakes a replay waiting out a hold, or pumps (pump returns at once while busy: the running one sees it). */
  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
    void this.pump();
  }
}
