/** One event as the notification service relays and streams it (from the ledger's outbox). */
export interface NotificationEvent {
  /** The outbox id: increasing in commit order, the resume cursor the client sends back. */
  id: bigint;
  userId: string;
  type: 'TRANSFER_SUCCEED';
  title: string;
  content: string;
  createdAt: Date;
}

/** The pub/sub message for one event (JSON; ids as decimal strings). */
export function encodeEvent(event: NotificationEvent): string {
  return JSON.stringify({
    id: event.id.toString(),
    userId: event.userId,
    type: event.type,
    title: event.title,
    content: event.content,
    createdAt: event.createdAt.toISOString(),
  });
}

/** Undefined for anything that is not a well-formed event (never trusted blindly: it crossed a network). */
export function decodeEvent(message: string): NotificationEvent | undefined {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return undefined;
  }
  return eventOf(value);
}

function eventOf(value: unknown): NotificationEvent | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.id !== 'string' || !/^\d{1,20}$/.test(v.id)) return undefined;
  if (typeof v.userId !== 'string' || v.type !== 'TRANSFER_SUCCEED') return undefined;
  if (typeof v.title !== 'string' || typeof v.content !== 'string' || typeof v.createdAt !== 'string') return undefined;
  return { id: BigInt(v.id), userId: v.userId, type: v.type, title: v.title, content: v.content, createdAt: new Date(v.createdAt) };
}

/**
 * The store channel (inside the service's prefix) that carries every user's events. Each replica
 * subscribes to it once and hands each event to its own streams of that user in memory: opening
 * and closing a stream costs no store round trip (no SUBSCRIBE/UNSUBSCRIBE per stream).
 */
export const EVENTS_CHANNEL = 'events';

/** One pub/sub message for several events (a JSON array of encodeEvent's objects), in id order. */
export function encodeEvents(events: NotificationEvent[]): string {
  return `[${events.map(encodeEvent).join(',')}]`;
}

/** The well-formed events of a message from encodeEvents (anything else in it is dropped). */
export function decodeEvents(message: string): NotificationEvent[] {
  let value: unknown;
  try {
    value = JSON.parse(message);
  } catch {
    return [];
  }
  if (!Array.isArray(value)) return [];
  const events: NotificationEvent[] = [];
  for (const item of value) {
    const event = eventOf(item);
    if (event) events.push(event);
  }
  return events;
}

/** Publishing anything here makes the relay poll the outbox now instead of at its next tick. */
export const WAKE_CHANNEL = 'outbox-wake';

/** Where the relay reads events from: the ledger's outbox (through LedgerService.ListOutboxEvents). */
export interface OutboxSource {
  /** Events with id > afterId in id order, at most `limit`. */
  listAfter(afterId: bigint, limit: number): Promise<NotificationEvent[]>;
}
