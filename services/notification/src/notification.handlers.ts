import { type CommonCode, failWith, InvalidArgumentError } from '@kfrm/errors';
import {
  type NotificationEventResponse,
  NotificationEventType,
  NotificationServiceService,
} from '@kfrm/proto/gen/kfrm/api/notification/notification';
import { type CallEndWatcher, defineService, raises, type CallContext, type StreamWriter } from '@kfrm/server-kit';
import type { Metadata } from '@grpc/grpc-js';
import type { StreamSession } from './live-streams';
import type { NotificationEvent } from './notification-event';
import { type EventSink, streamUserEvents, type SubscriptionDeps } from './subscription';

/** Request metadata naming the last event id the client saw (the seed request has no field for it). */
export const LAST_EVENT_ID_HEADER = 'last-event-id';
const MAX_U64 = (1n << 64n) - 1n;

/** The resume cursor, or undefined for "live events only". */
export function lastEventIdOf(metadata: Metadata): bigint | undefined {
  const values = metadata.get(LAST_EVENT_ID_HEADER);
  if (values.length === 0) return undefined;
  const value = values[0];
  if (typeof value !== 'string' || values.length > 1 || !/^\d{1,20}$/.test(value) || BigInt(value) > MAX_U64) {
    throw new InvalidArgumentError(`${LAST_EVENT_ID_HEADER} must be one unsigned decimal event id`);
  }
  return BigInt(value);
}

/** What streamSession and a revoked session raise (CommonApiError: every method may answer it). */
type SessionUserCode = Extract<CommonCode, 'UNAUTHENTICATED_USER'>;

function streamSession(ctx: CallContext): StreamSession {
  const session = ctx.principal.session;
  // The guard guarantees a session at this level; without one nothing is anyone's.
  if (!session?.userId) throw failWith<SessionUserCode>()('UNAUTHENTICATED_USER', 'client certificate or session is not valid');
  // The guard's own object (never changed after it is made), not a copy: a stream keeps it open for hours.
  return session;
}

/** A stream's events in the seed's message (an object, not a closure: one per open stream). */
class EventResponseWriter implements EventSink {
  constructor(private readonly stream: StreamWriter<NotificationEventResponse>) {}

  write(event: NotificationEvent): Promise<void> {
    return this.stream.write({
      id: event.id.toString(),
      title: event.title,
      content: event.content,
      type: NotificationEventType.TRANSFER_SUCCEED,
    });
  }

  get ended(): boolean {
    return this.stream.ended;
  }

  watchEnd(watcher: CallEndWatcher | undefined): void {
    this.stream.watchEnd(watcher);
  }
}

export function notificationHandlers(deps: SubscriptionDeps) {
  return defineService(
    NotificationServiceService,
    {
      // Not async: the stream's own promise is returned as it is, so nothing of this function is
      // kept while the stream is open (an async function kept its frame, or a link to the
      // returned promise, for the stream's life). What it throws before that reaches the listener
      // as a rejection would.
      subscribeNotification(_request, ctx, stream) {
        const session = streamSession(ctx);
        const lastEventId = lastEventIdOf(ctx.metadata);
        return streamUserEvents(deps, session, lastEventId, new EventResponseWriter(stream));
      },
    },
    // The seed gives this method no error message of its own.
    { subscribeNotification: { access: 'session', raises: raises<SessionUserCode>() } },
  );
}
