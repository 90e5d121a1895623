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
  const queue: NotificationEvent[] = [];
  let overflow = false;
  let gap = false;
  let held = false;
  let ended: Error | undefined;
  let wake: (() => void) | undefined;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  // Settles when the queue overflows or the stream is ended, so a write stuck on a client that
  // stopped reading is not waited for: the stream ends and releases its slot.
  let interrupt: () => void = () => undefined;
  const interrupted = new Promise<void>((resolve) => (interrupt = resolve));
  signal.addEventListener('abort', notify);
  const live: LiveStream = {
    session,
    deliver(event) {
      if (overflow || ended) return;
      if (queue.length >= deps.options.queueLimit) {
        // Drop what is buffered: the client resumes from the last id it saw, which the replay covers.
        overflow = true;
        queue.length = 0;
        interrupt();
      } else {
        queue.push(event);
      }
      notify();
    },
    gap() {
      gap = true;
      notify();
    },
    hold(value) {
      held = value;
      notify();
    },
    end(error) {
      ended ??= error;
      interrupt();
      notify();
    },
  };
  let leave: (() => void) | undefined;
  try {
    leave = await deps.streams.add(live);

    let lastSent = lastEventId ?? 0n;
    const check = () => {
      if (ended) throw ended;
      if (overflow) throw new SubscriberTooSlowError('notification stream fell too far behind');
    };
    const send = async (event: NotificationEvent): Promise<boolean> => {
      if (event.id <= lastSent) return true;
      const written = write(event);
      // The write may still reject (at abort) after the race is decided; that is expected.
      written.catch(() => undefined);
      try {
        await Promise.race([written, interrupted]);
      } catch (err) {
        if (signal.aborted) return false;
        throw err;
      }
      check();
      lastSent = event.id;
      return true;
    };
    const waitForWork = () => new Promise<void>((resolve) => (wake = resolve));

    /** Sends the stored events after `afterId`; false when the stream ended meanwhile. */
    const replay = async (afterId: bigint): Promise<boolean> => {
      for (const event of await listUserEventsAfter(deps.db, userId, afterId, deps.options.replayLimit)) {
        if (signal.aborted) return false;
        check();
        // A revocation announced during the replay: nothing more until the session is re-checked.
        while (held && !ended && !signal.aborted) await waitForWork();
        check();
        if (!(await send(event))) return false;
      }
      return true;
    };

    if (lastEventId !== undefined && !(await replay(lastEventId))) return;
    deps.onLive?.(userId);
    for (;;) {
      if (signal.aborted) return;
      check();
      if (held) {
        await waitForWork();
        continue;
      }
      if (gap) {
        gap = false;
        // A failed read ends the stream (UNAVAILABLE); the client resumes from its last id.
        if (!(await replay(lastSent))) return;
        continue;
      }
      const event = queue.shift();
      if (!event) {
        await waitForWork();
        continue;
      }
      if (!(await send(event))) return;
    }
  } finally {
    signal.removeEventListener('abort', notify);
    leave?.();
    await slot.release();
    closeGauge?.();
  }
}
