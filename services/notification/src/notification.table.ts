import type { Generated } from 'kysely';

export const NOTIFICATION_SCHEMA = 'notification';

/** How far the relay has copied the ledger's outbox (one row). */
export interface RelayCursorTable {
  singleton: Generated<boolean>;
  /** bigint as a decimal string (pg int8) */
  last_id: string;
}

/** The relayed events, per user, kept for replay after a reconnect (purged after the retention). */
export interface EventsTable {
  user_id: string;
  /** the ledger's outbox event id (bigint as a decimal string) */
  id: string;
  type: string;
  title: string;
  content: string;
  /** when the ledger wrote the event */
  created_at: Date;
}

export interface NotificationDatabase {
  relay_cursor: RelayCursorTable;
  events: EventsTable;
}
