// Test helpers: a fake LedgerService (an in-memory outbox served over gRPC), stores shared by
// several replicas (Redis when REDIS_URL is set, else one in-process store), and notification
// service instances on their own listeners with a test session guard.
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type OpenTestDatabaseOptions, type TestDatabase } from '@kfrm/db/test-database';
import { createLogger, type Logger } from '@kfrm/logging';
import { LedgerServiceClient, LedgerServiceService, OutboxEvent, OutboxEventType } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { NotificationServiceClient, type NotificationEventResponse } from '@kfrm/proto/gen/kfrm/api/notification/notification';
import { defineService, GrpcListener, unauthenticated, type AccessGuard } from '@kfrm/server-kit';
import { createMemoryStore, createStore, prefixed, type Store } from '@kfrm/store';
import { ledgerOutboxSource } from '../ledger-outbox';
import { migrations } from '../migrations';
import { LAST_EVENT_ID_HEADER } from '../notification.handlers';
import { createNotificationService, type NotificationConfig, type NotificationService } from '../notification.module';
import { NOTIFICATION_SCHEMA } from '../notification.table';
import type { SessionCheck } from '../live-streams';

export const testConfig: NotificationConfig = {
  pollMs: 20,
  lockTtlMs: 1_000,
  batchSize: 50,
  retentionMs: 7 * 86_400_000,
  purgeEveryMs: 3_600_000,
  queueLimit: 256,
  replayLimit: 500,
  streamsPerUser: 5,
  streamSlotTtlMs: 5_000,
  recheckMs: 3_600_000,
};

export const silentLogger: Logger = createLogger({ service: 'notification-test', level: process.env.DBG ? 'debug' : 'silent' });

/** Polls until `check` holds (no timing is asserted: the bound only keeps a broken test from hanging). */
export async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The ledger's outbox as ListOutboxEvents serves it, with events appended by the test. */
export class FakeLedger {
  readonly outbox: OutboxEvent[] = [];
  private listener!: GrpcListener;
  client!: LedgerServiceClient;
  /** How many ListOutboxEvents calls were served. */
  calls = 0;

  async start(): Promise<void> {
    this.listener = new GrpcListener({
      name: 'internal',
      host: '127.0.0.1',
      port: 0,
      credentials: grpc.ServerCredentials.createInsecure(),
      // A stand-in on its own plaintext port, reached over the network with no service
      // certificate: it checks no identity (the real ledger's callers are tested with it).
      guard: { authorize: async (level) => ({ level }) },
      logger: silentLogger,
    });
    const internal = { access: 'internal' as const, callers: ['notification'] };
    this.listener.addService(
      defineService(
        LedgerServiceService,
        {
          listOutboxEvents: async (request) => {
            this.calls++;
            const limit = request.limit === 0 ? 100 : Math.min(request.limit, 1000);
            return { events: this.outbox.filter((e) => e.id > request.afterId).slice(0, limit) };
          },
        },
        {
          createAccount: internal,
          postTransfer: internal,
          deposit: internal,
          getAccountForOwner: internal,
          getTransferTarget: internal,
          listOutboxEvents: internal,
          setTransferLimits: internal,
          listAccountsOfOwner: internal,
          findEntriesByKeys: internal,
          getTransferParties: internal,
        },
      ),
    );
    const port = await this.listener.start();
    this.client = new LedgerServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  }

  /** Commits one event for `userId` stored as text (as the ledger wrote them before facts); returns its id. */
  append(userId: string, title = 'Transfer', content = 'done'): bigint {
    return this.appendEvent({ userId, title, content });
  }

  /** Commits one event with these fields (facts when `kind` is set); returns its id. */
  appendEvent(fields: Partial<OutboxEvent> & { userId: string }): bigint {
    const id = BigInt(this.outbox.length + 1);
    this.outbox.push(
      OutboxEvent.fromPartial({
        type: OutboxEventType.OUTBOX_EVENT_TYPE_TRANSFER_SUCCEED,
        createdAt: new Date().toISOString(),
        ...fields,
        id,
        entryId: id,
      }),
    );
    return id;
  }

  async stop(): Promise<void> {
    this.client?.close();
    await this.listener?.shutdown(100);
  }
}

/** `count` store handles that see each other's keys and channels, isolated from other tests. */
export async function openSharedStores(count: number): Promise<{ stores: Store[]; close(): Promise<void> }> {
  const redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    const store = createMemoryStore();
    return { stores: Array.from({ length: count }, () => store), close: () => store.close() };
  }
  // One connection per replica, as in a deployment; a random prefix keeps runs apart.
  const prefix = `test-${randomUUID()}:`;
  const roots = await Promise.all(Array.from({ length: count }, () => createStore({ redisUrl })));
  return {
    stores: roots.map((root) => prefixed(root, prefix)),
    close: async () => {
      await Promise.all(roots.map((root) => root.close()));
    },
  };
}

export async function openNotificationDatabase(options: OpenTestDatabaseOptions = {}): Promise<TestDatabase> {
  const database = await openTestDatabase(options);
  await migrateSchema(database, { schema: NOTIFICATION_SCHEMA, migrations });
  return database;
}

/** Stands in for device certificate + session checks: the session is the user the header names. */
const testSessionGuard: AccessGuard = {
  async authorize(level, credentials) {
    if (level === 'public') return { level };
    const user = credentials.metadata.get('x-test-user')[0];
    if (level !== 'session' || typeof user !== 'string') throw unauthenticated();
    return { level, session: { userId: user, deviceId: `device-${user}`, sessionToken: `token-${user}` } };
  },
};

/** Session tokens the test revoked: the stand-in for the user service's FindBySessionToken. */
export class TestSessions {
  readonly revoked = new Set<string>();
  down = false;
  checks = 0;
  readonly check: SessionCheck = async (session) => {
    this.checks++;
    if (this.down) throw new Error('user service down (test)');
    return !this.revoked.has(session.sessionToken);
  };
}

export interface Subscription {
  call: grpc.ClientReadableStream<NotificationEventResponse>;
  events: NotificationEventResponse[];
  ids(): bigint[];
  status: Promise<grpc.StatusObject>;
  ended: boolean;
}

/** One replica: the notification service on its own mobile listener. */
export class Instance {
  service!: NotificationService;
  listener!: GrpcListener;
  client!: NotificationServiceClient;
  private readonly live = new Map<string, number>();

  constructor(
    private readonly database: TestDatabase,
    private readonly store: Store,
    private readonly ledger: () => LedgerServiceClient,
    private readonly config: NotificationConfig = testConfig,
    readonly sessions: TestSessions = new TestSessions(),
  ) {}

  async start(): Promise<this> {
    this.service = createNotificationService({
      db: this.database,
      store: this.store,
      logger: silentLogger,
      source: ledgerOutboxSource(this.ledger),
      checkSession: this.sessions.check,
      config: this.config,
      onLive: (user) => this.live.set(user, (this.live.get(user) ?? 0) + 1),
    });
    this.listener = new GrpcListener({
      name: 'mobile',
      host: '127.0.0.1',
      port: 0,
      credentials: grpc.ServerCredentials.createInsecure(),
      guard: testSessionGuard,
      logger: silentLogger,
    });
    this.listener.addService(this.service.registration);
    const port = await this.listener.start();
    this.client = new NotificationServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    return this;
  }

  /** How many streams of `user` went live on this instance so far. */
  liveCount(user: string): number {
    return this.live.get(user) ?? 0;
  }

  /** Opens a stream and, unless told otherwise, waits until it is live. */
  async subscribe(
    user: string,
    lastEventId?: bigint | string,
    options: { waitLive?: boolean; ownConnection?: boolean } = {},
  ): Promise<Subscription> {
    const before = this.liveCount(user);
    const md = new grpc.Metadata();
    md.set('x-test-user', user);
    if (lastEventId !== undefined) md.set(LAST_EVENT_ID_HEADER, lastEventId.toString());
    // Streams on one HTTP/2 connection share its flow-control window; two phones never do.
    const client = options.ownConnection
      ? new NotificationServiceClient(`127.0.0.1:${this.listener.port}`, grpc.credentials.createInsecure(), {
          'grpc.use_local_subchannel_pool': 1,
        })
      : this.client;
    const call = client.subscribeNotification({}, md);
    const sub: Subscription = {
      call,
      events: [],
      ids: () => sub.events.map((e) => BigInt(e.id)),
      status: new Promise((resolve) => call.on('status', resolve)),
      ended: false,
    };
    call.on('data', (event: NotificationEventResponse) => sub.events.push(event));
    call.on('error', () => undefined);
    void sub.status.then(() => {
      sub.ended = true;
      if (client !== this.client) client.close();
    });
    if (options.waitLive ?? true) {
      await until(() => this.liveCount(user) > before || sub.ended, `stream of ${user} to go live`);
    }
    return sub;
  }

  /** Ends the listener (streams end with OK) and then the service, as the runtime does. */
  async stop(): Promise<void> {
    this.client?.close();
    await this.listener?.shutdown(2_000);
    await this.service?.close();
  }
}
