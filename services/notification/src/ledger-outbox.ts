import { LedgerServiceClient, OutboxEventType } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { unaryCall } from '@kfrm/runtime';
import type { NotificationEvent, OutboxSource } from './notification-event';

const CALL_TIMEOUT_MS = 5_000;

/** The ledger's outbox through the internal LedgerService (the only way in: never its tables). */
export function ledgerOutboxSource(client: () => LedgerServiceClient): OutboxSource {
  return {
    async listAfter(afterId, limit) {
      const response = await unaryCall(client(), 'listOutboxEvents', { afterId, limit }, { timeoutMs: CALL_TIMEOUT_MS });
      const events: NotificationEvent[] = [];
      let previous = afterId;
      for (const e of response.events) {
        // The cursor relies on this; a ledger answering otherwise is a bug we must not paper over.
        if (e.id <= previous) throw new Error(`outbox ids out of order: ${e.id} after ${previous}`);
        previous = e.id;
        // Every type the ledger knows today is a transfer. An unknown one is returned without a
        // user: the relay moves the cursor past it and delivers it to nobody.
        const type = e.type === OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED ? 'TRANSFER_SUCCEED' : undefined;
        const createdAt = new Date(e.createdAt);
        events.push({
          id: e.id,
          userId: type ? e.userId : '',
          type: 'TRANSFER_SUCCEED',
          title: e.title,
          content: e.content,
          createdAt: Number.isNaN(createdAt.getTime()) ? new Date() : createdAt,
        });
      }
      return events;
    },
  };
}
