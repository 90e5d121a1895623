// The server side of bench/fanout.ts, in its own process (IPC only), so its memory and event loop
// are its own. Mode `kfrm`: the real ledger (PostTransfer, batching, outbox, commit announcement)
// and the real notification service (relay, Redis, shared subscriptions, slots) on a scratch
// PostgreSQL database and a Redis prefix, its stream method on a TLS listener with the observer
// (metrics, a span per call) production listeners have. Mode `bare`: a
// grpc-js server-streaming broadcast of the same message type over the same TLS, nothing else.
// Both take the user from metadata `x-bench-user` (the device-certificate and session checks are
// not what this measures; bench/reads.ts and the login bench cover them). With FANOUT_SPLIT (the
// bench's --split) a kfrm server forks this file again in mode `ledger`: the ledger alone, on the
// same scratch database, store prefix and internal PKI, posting when told over IPC.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { writeHeapSnapshot } from 'node:v8';
import { Session } from 'node:inspector/promises';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import { type DatabaseHandle, migrateSchema, openDatabase } from '@kfrm/db';
import { createGrpcServerObserver, createMetrics, createTracing } from '../../packages/observability/src/index';
import { openTestDatabase } from '@kfrm/db/test-database';
import { createLogger } from '../../packages/logging/src/index';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import {
  NotificationEventType,
  NotificationServiceService,
  type NotificationEventResponse,
} from '@kfrm/proto/gen/kfrm/api/notification/notification';
import { type TestServiceIdentity, testServiceIdentity } from '../../packages/runtime/src/testing/service-identity.fixtures';
import {
  GrpcListener,
  internalAccessGuard,
  internalServerCredentials,
  unauthenticated,
  type AccessGuard,
} from '../../packages/server-kit/src/index';
import { StreamServedCall } from '../../packages/server-kit/src/served-call';
import { childAsker } from './child-ask';
import { createStore, prefixed, type Store } from '@kfrm/store';
import { ledgerHandlers } from '../../services/account/src/ledger.handlers';
import { createLedger } from '../../services/account/src/ledger';
import { LedgerPoster } from '../../services/account/src/ledger-poster';
import { LEDGER_SCHEMA, type LedgerDatabase } from '../../services/account/src/ledger.table';
import { migrations as ledgerMigrations } from '../../services/account/src/migrations';
import { outboxCommitAnnouncer } from '../../services/account/src/outbox-commit-announcer';
import { ledgerOutboxSource } from '../../services/notification/src/ledger-outbox';
import { migrations as notificationMigrations } from '../../services/notification/src/migrations';
import { createNotificationService, readNotificationConfig } from '../../services/notification/src/notification.module';
import { NOTIFICATION_SCHEMA } from '../../services/notification/src/notification.table';

export type ToServer =
  | { type: 'post'; users: number }
  | { type: 'memory'; snapshotFile?: string }
  | { type: 'live' }
  | { type: 'written' }
  | { type: 'profile-start' }
  | { type: 'profile-stop'; file: string }
  | { type: 'stop' };
export type FromServer =
  | { type: 'ready'; port: number }
  | { type: 'posted'; committedAt: Record<string, number> }
  | { type: 'memory'; heapUsed: number; rss: number }
  | { type: 'live'; count: number }
  | { type: 'written'; writtenAt: Record<string, number[]>; readAt: Record<string, number> }
  | { type: 'profile-started' }
  | { type: 'profile-written' }
  | { type: 'stopped' };

const mode = process.env.FANOUT_MODE === 'bare' || process.env.FANOUT_MODE === 'ledger' ? process.env.FANOUT_MODE : 'kfrm';
const { cert, key } = JSON.parse(process.env.FANOUT_TLS!) as { cert: string; key: string };
const credentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(cert), private_key: Buffer.from(key) }], false);
const logger = createLogger({ service: 'fanout-bench', level: 'warn' });
// Where stacks are source-mapped (the --tsx runner; NODE_OPTIONS=--enable-source-maps; not the
// compiled default, ADR 0023), the first stack trace formatted in the process parses the source
// map: ≈ 0.4 s and ≈ 40 MB of heap kept for the process's life (Node's SourceMap holds one array
// per mapping). Whichever server formats one first during the run (a logged error, a cancelled
// call) would show it as memory not given back after the streams close. Paid here, before the
// base figure, so the memory figures compare streams with streams.
void new Error('parse the source map now').stack;
const now = () => performance.timeOrigin + performance.now();
const send = (m: FromServer) => process.send!(m);
let live = 0;
/**
 * When each user's event was handed to grpc-js, per stream: the server's share of the delivery
 * lag (the rest is the transport and the bench's client, on the same two cores).
 */
const writtenAt: Record<string, number[]> = {};
/** When the relay read each user's event from the ledger's outbox: splits the server's share in two. */
const readAt: Record<string, number> = {};
function recordWrite(user: string): void {
  const times = writtenAt[user] ?? [];
  writtenAt[user] = times;
  times.push(now());
}

const benchGuard: AccessGuard = {
  async authorize(level, call) {
    const user = call.metadata.get('x-bench-user')[0];
    if (level !== 'session' || typeof user !== 'string') throw unauthenticated();
    return { level, session: { userId: user, deviceId: `d-${user}`, sessionToken: `t-${user}` } };
  },
};

const SPLIT = process.env.FANOUT_SPLIT === '1';

interface RunningLedger {
  port: number;
  post: (users: number) => Promise<Record<string, number>>;
  stop: () => Promise<void>;
}

/**
 * The real ledger (PostTransfer, batching, outbox, commit announcement on the store) on its internal
 * mTLS listener, two funded accounts, and `post`: one PostTransfer per user from 32 callers at
 * once, as a loaded transfer service would post, with each posting's commit time.
 */
async function startLedger(database: DatabaseHandle, store: Store, identity: TestServiceIdentity): Promise<RunningLedger> {
  const db = database.kysely<LedgerDatabase>(LEDGER_SCHEMA);
  const poster = new LedgerPoster(db, { maxBatchSize: 32, onOutboxCommitted: outboxCommitAnnouncer(store, logger) });
  const ledger = createLedger({ db, poster, store });
  const internal = new GrpcListener({
    name: 'internal',
    host: '127.0.0.1',
    port: 0,
    credentials: internalServerCredentials(identity.listenerFiles),
    guard: internalAccessGuard,
    logger,
  });
  internal.addService(ledgerHandlers(ledger));
  const internalPort = await internal.start();
  const from = await ledger.createAccount({ ownerUserId: 'house', name: 'from', currency: 'KRW' });
  const to = await ledger.createAccount({ ownerUserId: 'house', name: 'to', currency: 'KRW' });
  await ledger.deposit({
    idempotencyKey: 'fund',
    accountNumber: from.accountNumber,
    amount: { currency: 'KRW', minor: 10n ** 15n },
    memo: '',
  });
  let round = 0;
  return {
    port: internalPort,
    async post(users) {
      round++;
      const committedAt: Record<string, number> = {};
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < users) {
            const user = `u${next++}`;
            await ledger.postTransfer({
              idempotencyKey: `r${round}-${user}`,
              fromAccountNumber: from.accountNumber,
              toAccountNumber: to.accountNumber,
              amount: { currency: 'KRW', minor: 1_000n },
              debitMemo: '',
              creditMemo: '',
              events: [{ userId: user, type: 'TRANSFER_SUCCEED', kind: 'TRANSFER_IN', counterpartyName: '' }],
            });
            committedAt[user] = now();
          }
        }),
      );
      return committedAt;
    },
    async stop() {
      await internal.shutdown(1_000);
      await poster.close();
    },
  };
}

/** The ledger in a child process (this file, FANOUT_MODE=ledger), spoken to over IPC. */
async function forkLedger(env: Record<string, string>): Promise<RunningLedger> {
  const child = fork(fileURLToPath(import.meta.url), [], {
    env: { ...process.env, ...env, FANOUT_MODE: 'ledger' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ask = childAsker<ToServer, FromServer>(child, 'fan-out ledger');
  const { port } = await ask(undefined, 'ready');
  return {
    port,
    async post(users) {
      return (await ask({ type: 'post', users }, 'posted')).committedAt;
    },
    async stop() {
      await ask({ type: 'stop' }, 'stopped');
    },
  };
}

let post: (users: number) => Promise<Record<string, number>>;
let stop: () => Promise<void>;
let port: number;

if (mode === 'bare') {
  const streams = new Map<string, Set<grpc.ServerWritableStream<unknown, NotificationEventResponse>>>();
  const server = new grpc.Server();
  server.addService(NotificationServiceService, {
    subscribeNotification(call: grpc.ServerWritableStream<unknown, NotificationEventResponse>) {
      const user = call.metadata.get('x-bench-user')[0] as string;
      let set = streams.get(user);
      if (!set) {
        set = new Set();
        streams.set(user, set);
      }
      set.add(call);
      live++;
      call.on('cancelled', () => {
        set.delete(call);
        live--;
      });
    },
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  let id = 0;
  post = async (users) => {
    const committedAt: Record<string, number> = {};
    for (let u = 0; u < users; u++) {
      const user = `u${u}`;
      committedAt[user] = now();
      const event = { id: String(++id), title: '입금', content: '1,000원이 입금되었습니다.', type: NotificationEventType.TRANSFER_SUCCEED };
      for (const call of streams.get(user) ?? []) {
        call.write(event);
        recordWrite(user);
      }
    }
    return committedAt;
  };
  stop = () => new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
} else if (mode === 'ledger') {
  // The ledger alone, in its own process (FANOUT_SPLIT: the notification server forked it), on the
  // notification server's scratch database and store prefix.
  const database = await openDatabase({ databaseUrl: process.env.FANOUT_DATABASE_URL!, poolMax: 20 });
  const baseStore = await createStore({ redisUrl: process.env.REDIS_URL });
  const store = prefixed(baseStore, process.env.FANOUT_STORE_PREFIX!);
  const identity = await testServiceIdentity(process.env.FANOUT_PKI_DIR!, ['notification']);
  const ledger = await startLedger(database, store, identity);
  port = ledger.port;
  post = ledger.post;
  stop = async () => {
    await ledger.stop();
    await store.close();
    await baseStore.close();
    await database.close();
  };
} else {
  const database = await openTestDatabase({ backend: 'postgres', poolMax: 20 });
  await migrateSchema(database, { schema: LEDGER_SCHEMA, migrations: ledgerMigrations });
  await migrateSchema(database, { schema: NOTIFICATION_SCHEMA, migrations: notificationMigrations });
  const baseStore = await createStore({ redisUrl: process.env.REDIS_URL });
  const storePrefix = `bench-fanout-${randomBytes(4).toString('hex')}:`;
  const store = prefixed(baseStore, storePrefix);
  // The relay reads the ledger's outbox as the notification service (internal mTLS, service
  // identity: docs/adr/0014-service-identity.md), as it does in split deployments.
  const pkiDir = await mkdtemp(join(tmpdir(), 'kfrm-bench-fanout-pki-'));
  const identity = await testServiceIdentity(pkiDir, ['notification']);
  // FANOUT_SPLIT: the ledger in a process of its own, as in split deployments; else in this one,
  // as in the embedded default (the same process posts, relays and delivers).
  const ledger = SPLIT
    ? await forkLedger({ FANOUT_DATABASE_URL: database.databaseUrl!, FANOUT_STORE_PREFIX: storePrefix, FANOUT_PKI_DIR: pkiDir })
    : await startLedger(database, store, identity);
  const ledgerClient = new LedgerServiceClient(`127.0.0.1:${ledger.port}`, identity.as('notification'));
  const outbox = ledgerOutboxSource(() => ledgerClient);
  const service = createNotificationService({
    db: database,
    store,
    logger,
    source: {
      async listAfter(afterId, limit) {
        const events = await outbox.listAfter(afterId, limit);
        for (const event of events) readAt[event.userId] = now();
        return events;
      },
    },
    checkSession: async () => true,
    config: { ...readNotificationConfig({}), streamsPerUser: 100 },
    onStreamOpen: () => {
      live++;
      return () => live--;
    },
  });
  // Metrics and a server span per call, as start-services gives every listener (tracing without
  // an exporter still makes spans, so trace ids reach logs): what a stream keeps includes them.
  const observer = createGrpcServerObserver({
    listener: 'mobile',
    metrics: createMetrics(),
    tracing: createTracing({ serviceName: 'fanout-bench' }),
    trustIncomingTraceContext: false,
  });
  const write = StreamServedCall.prototype.write;
  StreamServedCall.prototype.write = function (this: StreamServedCall, message: unknown) {
    recordWrite(this.principal.session!.userId);
    return write.call(this, message);
  };
  const mobile = new GrpcListener({ name: 'mobile', host: '127.0.0.1', port: 0, credentials, guard: benchGuard, logger, observer });
  mobile.addService(service.registration);
  port = await mobile.start();
  post = ledger.post;
  stop = async () => {
    await mobile.shutdown(1_000);
    await service.close();
    ledgerClient.close();
    await ledger.stop();
    await rm(pkiDir, { recursive: true, force: true });
    await store.close();
    await baseStore.close();
    await database.close();
  };
}

// A CPU profile of the posting and delivery only (bench/fanout.ts BENCH_PROFILE_DIR).
let profiler: Session | undefined;

process.on('message', async (m: ToServer) => {
  if (m.type === 'profile-start') {
    profiler = new Session();
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
    send({ type: 'profile-started' });
  } else if (m.type === 'profile-stop') {
    const { profile } = await profiler!.post('Profiler.stop');
    profiler!.disconnect();
    await writeFile(m.file, JSON.stringify(profile));
    send({ type: 'profile-written' });
  } else if (m.type === 'post') send({ type: 'posted', committedAt: await post(m.users) });
  else if (m.type === 'live') send({ type: 'live', count: live });
  else if (m.type === 'written') send({ type: 'written', writtenAt, readAt });
  else if (m.type === 'memory') {
    // Twice: finalizers of the first pass free more in the second.
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 50));
    globalThis.gc?.();
    const usage = process.memoryUsage();
    // For finding what an idle stream holds: compare the snapshots (Chrome DevTools' Comparison view).
    if (m.snapshotFile) writeHeapSnapshot(m.snapshotFile);
    send({ type: 'memory', heapUsed: usage.heapUsed, rss: usage.rss });
  } else if (m.type === 'stop') {
    await stop();
    send({ type: 'stopped' });
    process.exit(0);
  }
});
send({ type: 'ready', port });
