import type { Logger } from '@kfrm/logging';
import { LEDGER_OUTBOX_COMMITTED_CHANNEL } from '@kfrm/runtime/service-channels';
import type { Store } from '@kfrm/store';

/**
 * The ledger's `onOutboxCommitted`: publishes an empty message on `ledger:outbox-committed` so the
 * notification relay reads the outbox at once. Fire and forget (the posting's callers are not
 * kept waiting on it); a lost announcement only means the relay finds the rows at its next poll.
 * Announcements while one is already on its way are folded into it.
 */
export function outboxCommitAnnouncer(store: Store, logger: Logger): () => void {
  let inFlight = false;
  let again = false;
  let warned = false;
  const announce = () => {
    inFlight = true;
    store.publish(LEDGER_OUTBOX_COMMITTED_CHANNEL, '').then(
      () => {
        warned = false;
        finish();
      },
      (err: unknown) => {
        // Once per outage: polling still delivers.
        if (!warned) logger.warn({ err }, 'outbox commit not announced; the relay finds it at its next poll');
        warned = true;
        finish();
      },
    );
  };
  const finish = () => {
    inFlight = false;
    if (again) {
      again = false;
      announce();
    }
  };
  return () => {
    if (inFlight) again = true;
    else announce();
  };
}
