import {
  type LedgerServiceClient,
  OutboxEventKind,
  OutboxEventType,
  type OutboxEvent,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { unaryCall } from '@kfrm/runtime';
import type { NotificationEvent, OutboxSource } from './notification-event';
import { renderTransfer, type NotificationText, type TransferEventKind } from './notification-text';

const CALL_TIMEOUT_MS = 5_000;

const KINDS: Partial<Record<OutboxEventKind, TransferEventKind>> = {
  [OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_OUT]: 'TRANSFER_OUT',
  [OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_IN]: 'TRANSFER_IN',
  [OutboxEventKind.OUTBOX_EVENT_KIND_TOP_UP]: 'TOP_UP',
  [OutboxEventKind.OUTBOX_EVENT_KIND_WITHDRAWAL]: 'WITHDRAWAL',
  [OutboxEventKind.OUTBOX_EVENT_KIND_WITHDRAWAL_RETURNED]: 'WITHDRAWAL_RETURNED',
};

/**
 * The words of an outbox event: rendered here from its facts, or, for an event the ledger stored
 * as text (written before facts), that text as it is. Undefined when it cannot be worded (a kind
 * this service does not know yet, facts without an amount).
 */
function textOf(e: OutboxEvent): NotificationText | undefined {
  if (e.kind === OutboxEventKind.OUTBOX_EVENT_KIND_UNSPECIFIED) return { title: e.title, content: e.content };
  const kind = KINDS[e.kind];
  if (!kind || !e.amount) return undefined;
  const amount = { currency: CurrencyCode[e.amount.currencyCode] ?? '', major: e.amount.majorAmount, minor: e.amount.minorAmount };
  return renderTransfer({ kind, amount, counterpartyName: e.counterpartyName, memo: e.memo });
}

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
        // Every type the ledger knows today is a transfer. An unknown type, or an event that
        // cannot be worded, is returned without a user: the relay moves the cursor past it and
        // delivers it to nobody (stopping there would hold up every later event).
        const type = e.type === OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED ? 'TRANSFER_SUCCEED' : undefined;
        const text = textOf(e);
        const createdAt = new Date(e.createdAt);
        events.push({
          id: e.id,
          userId: type && text ? e.userId : '',
          type: 'TRANSFER_SUCCEED',
          title: text?.title ?? '',
          content: text?.content ?? '',
          createdAt: Number.isNaN(createdAt.getTime()) ? new Date() : createdAt,
        });
      }
      return events;
    },
  };
}
