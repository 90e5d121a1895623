import { int, readConfig, type Env } from '@kfrm/config';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import type { ServiceModule } from '@kfrm/runtime';
import { LEDGER_OUTBOX_COMMITTED_CHANNEL } from '@kfrm/runtime/service-channels';
import { createSessionResolver } from '@kfrm/runtime/session-resolver';
import type { DatabaseHandle } from '@kfrm/db';
import type { Logger } from '@kfrm/logging';
import { prefixed, type Store } from '@kfrm/store';
import { ledgerOutboxSource } from './ledger-outbox';
import { migrations } from './migrations';
import { notificationHandlers } from './notification.handlers';
import { NOTIFICATION_SCHEMA, type NotificationDatabase } from './notification.table';
import type { OutboxSource } from './notification-event';
import { LiveStreams, type SessionCheck } from './live-streams';
import { OutboxRelay, type OutboxRelayOptions } from './outbox-relay';
import { StreamSlots } from './stream-slots';
import type { SubscriptionOptions } from './subscription';

export { NOTIFICATION_SCHEMA } from './notification.table';

/** Prefix of every store key and channel the service uses. */
export const NOTIFICATION_STORE_PREFIX = 'notification:';

export interface NotificationConfig extends OutboxRelayOptions, SubscriptionOptions {
  streamsPerUser: number;
  streamSlotTtlMs: number;
  /** Every open stream's session is re-checked this often (the bound when a revocation fact is lost). */
  recheckMs: number;
}

export function readNotificationConfig(env?: Env): NotificationConfig {
  const c = readConfig(
    {
      // The safety net only: ledger commits wake the relay at once (ledger:outbox-committed).
      pollMs: int('KFRM_NOTIFICATION_POLL_MS', { default: 1_000, min: 10, max: 60_000 }),
      // A dead relayer is replaced within this (renewed every third of it while alive).
      lockTtlMs: int('KFRM_NOTIFICATION_RELAY_LOCK_TTL_MS', { default: 1_500, min: 300, max: 600_000 }),
      // Keep it below the queue limit: a page for one user arrives at their stream as one burst.
      batchSize: int('KFRM_NOTIFICATION_RELAY_BATCH', { default: 200, min: 1, max: 1000 }),
      retentionDays: int('KFRM_NOTIFICATION_RETENTION_DAYS', { default: 7, min: 1, max: 365 }),
      queueLimit: int('KFRM_NOTIFICATION_QUEUE_LIMIT', { default: 256, min: 1, max: 10_000 }),
      replayLimit: int('KFRM_NOTIFICATION_REPLAY_LIMIT', { default: 500, min: 1, max: 10_000 }),
      streamsPerUser: int('KFRM_NOTIFICATION_STREAMS_PER_USER', { default: 5, min: 1, max: 100 }),
      recheckSeconds: int('KFRM_NOTIFICATION_RECHECK_SECONDS', { default: 60, min: 1, max: 3_600 }),
    },
    env,
  );
  return {
    pollMs: c.pollMs,
    lockTtlMs: c.lockTtlMs,
    batchSize: c.batchSize,
    retentionMs: c.retentionDays * 86_400_000,
    purgeEveryMs: 3_600_000,
    queueLimit: c.queueLimit,
    replayLimit: c.replayLimit,
    streamsPerUser: c.streamsPerUser,
    streamSlotTtlMs: 30_000,
    recheckMs: c.recheckSeconds * 1000,
  };
}

export interface NotificationServiceDeps {
  db: DatabaseHandle;
  store: Store;
  logger: Logger;
  source: OutboxSource;
  /** Whether a stream's session is still live (the user service's FindBySessionToken). */
  checkSession: SessionCheck;
  config: NotificationConfig;
  onLive?: (userId: string) => void;
  onStreamOpen?: () => () => void;
}

export interface NotificationService {
  registration: ReturnType<typeof notificationHandlers>;
  relay: OutboxRelay;
  streams: LiveStreams;
  /** Starts the relay and subscribes the streams' shared channels (LiveStreams.prepare). */
  start(): void;
  /** Stops the relay (releasing its lock) and drops the service's store subscriptions. */
  close(): Promise<void>;
}

/**
 * The service's composition: the relay and the stream handler, over one store view. It starts
 * (the relay, the streams' shared subscriptions) at once unless `startRelay` is false (the module
 * starts it once the listeners are up, since the relay calls the ledger through the internal
 * listener).
 */
export function createNotificationService(deps: NotificationServiceDeps, options: { startRelay?: boolean } = {}): NotificationService {
  const kysely = deps.db.kysely<NotificationDatabase>(NOTIFICATION_SCHEMA);
  const view = prefixed(deps.store, NOTIFICATION_STORE_PREFIX);
  const relay = new OutboxRelay(kysely, view, deps.source, deps.logger.child({ component: 'outbox-relay' }), deps.config, {
    store: deps.store,
    channel: LEDGER_OUTBOX_COMMITTED_CHANNEL,
  });
  const slots = new StreamSlots(view, deps.config.streamsPerUser, deps.config.streamSlotTtlMs);
  // Revocation facts are published by other services on the store itself, outside our prefix.
  const streams = new LiveStreams(view, deps.store, deps.checkSession, deps.logger.child({ component: 'live-streams' }), {
    recheckMs: deps.config.recheckMs,
  });
  const start = () => {
    relay.start();
    streams.prepare();
  };
  if (options.startRelay !== false) start();
  return {
    registration: notificationHandlers({
      db: kysely,
      streams,
      slots,
      options: deps.config,
      onLive: deps.onLive,
      onStreamOpen: deps.onStreamOpen,
    }),
    relay,
    streams,
    start,
    close: async () => {
      await relay.stop();
      await streams.close();
      await view.close();
    },
  };
}

export interface NotificationModuleOptions {
  /** Where the KFRM_NOTIFICATION_* variables are read (process.env by default). */
  env?: Env;
}

/**
 * The notification service: a relay (one active replica) from the ledger's outbox to per-user
 * store channels, and SubscribeNotification streaming a user's events with resume by id.
 */
export function createNotificationModule(options: NotificationModuleOptions = {}): ServiceModule {
  return {
    name: 'notification',
    mobilePackages: ['kfrm.api.notification'],
    schema: NOTIFICATION_SCHEMA,
    migrations,
    create({ db, store, logger, internalClients, metrics }) {
      const resolveSession = createSessionResolver(internalClients);
      const service = createNotificationService(
        {
          db,
          store,
          logger,
          config: readNotificationConfig(options.env),
          source: ledgerOutboxSource(() => internalClients.get(LedgerServiceClient)),
          // The same check the access guard made when the stream opened; the certificate is not needed for it.
          checkSession: async (session) => {
            const found = await resolveSession(session.sessionToken, { deviceId: session.deviceId, certificateDer: new Uint8Array() });
            return found?.userId === session.userId && found.deviceId === session.deviceId;
          },
          onStreamOpen: () => metrics.streamSubscribers.open('notification'),
        },
        { startRelay: false },
      );
      // Listeners drain first (streams end with OK); then close stops the relay and hands the lock on.
      return {
        mobile: [service.registration],
        start: service.start,
        close: service.close,
      };
    },
  };
}

export const notificationModule: ServiceModule = createNotificationModule();
