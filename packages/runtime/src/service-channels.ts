/**
 * Store channels one service publishes on and another listens to (outside every service's own
 * key prefix). Messages on them are hints that make work prompt; pub/sub may lose them, so each
 * listener also has its own slower way to find the same thing out.
 */

/**
 * The ledger (account service) committed outbox rows: the notification relay reads the outbox
 * now instead of at its next poll. The message is empty; the outbox itself is the truth.
 */
export const LEDGER_OUTBOX_COMMITTED_CHANNEL = 'ledger:outbox-committed';
