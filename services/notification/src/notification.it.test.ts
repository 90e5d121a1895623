// SubscribeNotification over gRPC against a fake LedgerService feeding an outbox: per-user
// delivery, fan-out across replicas through the store, resume by last-event-id, bounded queues,
// stream limits and shutdown. Runs on PGlite/memory store, or on Postgres/Redis when
// DATABASE_URL/REDIS_URL are set.
import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TestDatabase } from '@kfrm/db/test-database';
import { OutboxEventKind } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { NotificationEventType } from '@kfrm/proto/gen/kfrm/api/notification/notification';
import { StoreUnavailableError, type Store } from '@kfrm/store';
import { publishRevocationFact } from '@kfrm/device-trust';
import { NOTIFICATION_STORE_PREFIX, readNotificationConfig } from './notification.module';
import { RELAY_LOCK_KEY } from './outbox-relay';
import { readCursor } from './notification.repository';
import { NOTIFICATION_SCHEMA } from './notification.table';
import {
  FakeLedger,
  Instance,
  openNotificationDatabase,
  openSharedStores,
  silentLogger,
  testConfig,
  until,
} from './testing/notification.harness';

const range = (from: bigint, to: bigint) => Array.from({ length: Number(to - from + 1n) }, (_, i) => from + BigInt(i));

describe('SubscribeNotification', () => {
  let database: TestDatabase;
  let ledger: FakeLedger;
  let closeStores: () => Promise<void>;
  let instances: Instance[];

  let shared: Awaited<ReturnType<typeof openSharedStores>> | undefined;

  async function startInstances(count: number, config = testConfig): Promise<Instance[]> {
    shared = await openSharedStores(count);
    closeStores = shared.close;
    instances = await Promise.all(shared.stores.map((store) => new Instance(database, store, () => ledger.client, config).start()));
    return instances;
  }

  beforeEach(async () => {
    database = await openNotificationDatabase();
    ledger = new FakeLedger();
    await ledger.start();
    instances = [];
    closeStores = async () => undefined;
  });

  afterEach(async () => {
    for (const instance of instances) await instance.stop();
    await closeStores();
    await ledger.stop();
    await database.close();
  });

  it('delivers each event live to its own user only', async () => {
    const [node] = await startInstances(1);
    const a = await node!.subscribe('user-a');
    const b = await node!.subscribe('user-b');
    const a1 = ledger.append('user-a', 'Sent 1,000 KRW', 'to B');
    const b1 = ledger.append('user-b', 'Received 1,000 KRW', 'from A');
    const a2 = ledger.append('user-a');
    await until(() => a.events.length === 2 && b.events.length === 1, "both users' events");
    // A marker for B after A's last event: had A's events leaked to B, they would be there by now.
    const b2 = ledger.append('user-b');
    await until(() => b.events.length >= 2, "B's marker");
    expect(a.ids()).toEqual([a1, a2]);
    expect(b.ids()).toEqual([b1, b2]);
    expect(a.events[0]).toEqual({
      id: a1.toString(),
      title: 'Sent 1,000 KRW',
      content: 'to B',
      type: NotificationEventType.TRANSFER_SUCCEED,
    });
    expect(b.events[0]).toMatchObject({ title: 'Received 1,000 KRW', content: 'from A', type: NotificationEventType.TRANSFER_SUCCEED });
    a.call.cancel();
    b.call.cancel();
  });

  it('a stream open across a store outage misses nothing: the gap is replayed from the stored events', async () => {
    const shared = await openSharedStores(1);
    closeStores = shared.close;
    // The store as seen through a connection that is lost for a while: messages published then
    // never arrive, and when it is back the store reports the gap (as the Redis store does).
    let lost = false;
    const gapHandlers: (() => void)[] = [];
    const inner = shared.stores[0]!;
    const subscribe: Store['subscribe'] = (channel, onMessage, options) => {
      if (options?.onGap) gapHandlers.push(options.onGap);
      return inner.subscribe(channel, (m) => (lost ? undefined : onMessage(m)), options);
    };
    const store = new Proxy(inner, {
      get: (target, prop) => (prop === 'subscribe' ? subscribe : (Reflect.get(target, prop) as unknown)),
    });
    const node = await new Instance(database, store, () => ledger.client, testConfig).start();
    instances = [node];
    const sub = await node.subscribe('user-a');
    const before = ledger.append('user-a');
    await until(() => sub.events.length === 1, 'the first event live');
    lost = true;
    const during = [ledger.append('user-a'), ledger.append('user-a')];
    await until(async () => (await readCursor(database.kysely(NOTIFICATION_SCHEMA))) === during[1], 'the relay to store the events');
    expect(sub.events).toHaveLength(1);
    lost = false;
    for (const onGap of gapHandlers) onGap();
    const after = ledger.append('user-a');
    await until(() => sub.events.length >= 4, 'every event on the stream');
    expect(sub.ids()).toEqual([before, ...during, after]);
    sub.call.cancel();
  });

  it('an event whose publish failed is published again when the store answers, to streams that never lost their subscription', async () => {
    const shared = await openSharedStores(1);
    closeStores = shared.close;
    const inner = shared.stores[0]!;
    let failPublish = false;
    let failed = 0;
    const publish: Store['publish'] = async (channel, message) => {
      if (failPublish && channel.endsWith(':events')) {
        failed++;
        throw new StoreUnavailableError('publish failed (test)');
      }
      return inner.publish(channel, message);
    };
    const store = new Proxy(inner, { get: (target, prop) => (prop === 'publish' ? publish : (Reflect.get(target, prop) as unknown)) });
    const node = await new Instance(database, store, () => ledger.client, testConfig).start();
    instances = [node];
    const sub = await node.subscribe('user-a');
    failPublish = true;
    const lostId = ledger.append('user-a');
    await until(() => failed > 0, 'a failed publish');
    await until(async () => (await readCursor(database.kysely(NOTIFICATION_SCHEMA))) === lostId, 'the relay to store the event');
    failPublish = false;
    const nextId = ledger.append('user-a');
    await until(() => sub.events.length >= 2, 'both events on the stream');
    expect(sub.ids()).toEqual([lostId, nextId]);
    sub.call.cancel();
  });

  it('words events from their facts, passes text events through, and skips what it cannot word', async () => {
    const [node] = await startInstances(1);
    const a = await node!.subscribe('user-a');
    const amount = { currencyCode: CurrencyCode.KRW, majorAmount: 1_200_000n, minorAmount: 0n };
    const out = ledger.appendEvent({
      userId: 'user-a',
      kind: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_OUT,
      amount,
      counterpartyName: '김*수',
      memo: 'rent',
    });
    const text = ledger.append('user-a', '이체 완료', 'stored before facts');
    // A kind this service does not know yet: delivered to nobody, and it holds nothing up.
    ledger.appendEvent({ userId: 'user-a', kind: 99 as OutboxEventKind, amount });
    const into = ledger.appendEvent({ userId: 'user-a', kind: OutboxEventKind.OUTBOX_EVENT_KIND_TRANSFER_IN, amount, memo: '점심값' });
    await until(() => a.events.length >= 3, 'the events');
    expect(a.events).toEqual([
      {
        id: out.toString(),
        title: '이체 완료',
        content: '김*수님에게 1,200,000원을 보냈습니다.',
        type: NotificationEventType.TRANSFER_SUCCEED,
      },
      { id: text.toString(), title: '이체 완료', content: 'stored before facts', type: NotificationEventType.TRANSFER_SUCCEED },
      {
        id: into.toString(),
        title: '입금',
        content: '1,200,000원이 입금되었습니다. (점심값)',
        type: NotificationEventType.TRANSFER_SUCCEED,
      },
    ]);
    // The replay reads the stored (already worded) events.
    const again = await node!.subscribe('user-a', 0n);
    await until(() => again.events.length >= 3, 'the replay');
    expect(again.events).toEqual(a.events);
    a.call.cancel();
    again.call.cancel();
  });

  it('reaches a subscriber on one replica with an event relayed by another, and only one replica relays', async () => {
    const nodes = await startInstances(2);
    await until(() => nodes.some((n) => n.service.relay.isLeader), 'a relayer');
    const relayer = nodes.find((n) => n.service.relay.isLeader)!;
    const other = nodes.find((n) => n !== relayer)!;
    const sub = await other.subscribe('user-a');
    const ids = range(1n, 40n).map(() => ledger.append('user-a'));
    let bothLeading = false;
    await until(() => {
      if (nodes.every((n) => n.service.relay.isLeader)) bothLeading = true;
      return sub.events.length >= ids.length;
    }, 'events through the other replica');
    expect(sub.ids()).toEqual(ids);
    expect(bothLeading).toBe(false);
    expect(other.service.relay.isLeader).toBe(false);

    // The relayer goes away: the other replica takes over and the stream there goes on.
    await relayer.stop();
    instances = instances.filter((n) => n !== relayer);
    await until(() => other.service.relay.isLeader, 'the other replica to take over');
    const later = ledger.append('user-a');
    await until(() => sub.events.length > ids.length, 'an event relayed by the new relayer');
    expect(sub.ids()).toEqual([...ids, later]);
    sub.call.cancel();
  });

  it("waits out a crashed relayer's lock, then one replica takes over", async () => {
    const shared = await openSharedStores(3);
    closeStores = shared.close;
    // A replica that died holding the lock: nobody may relay until it lapses.
    const lockKey = `${NOTIFICATION_STORE_PREFIX}${RELAY_LOCK_KEY}`;
    await shared.stores[2]!.set(lockKey, 'dead-replica', { ttlMs: 1_500 });
    instances = await Promise.all(
      shared.stores.slice(0, 2).map((store) => new Instance(database, store, () => ledger.client, testConfig).start()),
    );
    const sub = await instances[1]!.subscribe('user-a', 0n);
    const id = ledger.append('user-a');
    let relayedUnderDeadLock = false;
    await until(async () => {
      // Look first, then read the lock: if it is still the dead one's now, it was when we looked.
      const relaying = instances.some((n) => n.service.relay.isLeader) || sub.events.length > 0;
      if (relaying && (await shared.stores[2]!.get(lockKey)) === 'dead-replica') relayedUnderDeadLock = true;
      return sub.events.length > 0;
    }, 'delivery after the lock lapsed');
    expect(relayedUnderDeadLock).toBe(false);
    expect(sub.ids()).toEqual([id]);
    expect(instances.filter((n) => n.service.relay.isLeader)).toHaveLength(1);
    sub.call.cancel();
  });

  it('replaces a relayer that dies holding the lock in under 2 s with the default lease; each event reaches each live stream once', async () => {
    const defaults = readNotificationConfig({});
    const config = { ...testConfig, lockTtlMs: defaults.lockTtlMs };
    const shared = await openSharedStores(3);
    closeStores = shared.close;
    // The first replica "dies": from one moment on none of its calls (store, ledger) get through,
    // and it never releases the lock. Its lock lapses on its own.
    let dead = false;
    const inner = shared.stores[0]!;
    const deadStore = new Proxy(inner, {
      get: (target, prop) => {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) =>
          dead
            ? Promise.reject(new StoreUnavailableError('replica died (test)'))
            : (value as (...a: unknown[]) => unknown).apply(target, args);
      },
    });
    const dying = await new Instance(
      database,
      deadStore,
      () => {
        if (dead) throw new Error('replica died (test)');
        return ledger.client;
      },
      config,
    ).start();
    instances = [dying];
    await until(() => dying.service.relay.isLeader, 'the first replica to lead');
    const survivors = await Promise.all(
      shared.stores.slice(1).map((store) => new Instance(database, store, () => ledger.client, config).start()),
    );
    instances.push(...survivors);
    const streams = await Promise.all(survivors.map((node) => node.subscribe('user-a', 0n)));
    const before = [ledger.append('user-a'), ledger.append('user-a')];
    await until(() => streams.every((sub) => sub.events.length >= 2), 'the first events on both replicas');

    dead = true;
    const diedAt = Date.now();
    const after = [ledger.append('user-a'), ledger.append('user-a')];
    await until(() => survivors.some((node) => node.service.relay.isLeader), 'another replica to take over');
    const failoverMs = Date.now() - diedAt;
    expect(failoverMs).toBeLessThan(2_000);
    await until(() => streams.every((sub) => sub.events.length >= 4), 'the later events on both replicas');
    // A marker: a duplicate of anything earlier would arrive before it.
    const marker = ledger.append('user-a');
    await until(() => streams.every((sub) => sub.events.length >= 5), 'the marker on both replicas');
    for (const sub of streams) {
      expect(sub.ids()).toEqual([...before, ...after, marker]);
      sub.call.cancel();
    }
    expect(survivors.filter((node) => node.service.relay.isLeader)).toHaveLength(1);
  });

  it('keeps relaying through a lock renewal the store did not answer, while the lease lasts; steps down when it runs out, and leads again after', async () => {
    const defaults = readNotificationConfig({});
    const config = { ...testConfig, lockTtlMs: defaults.lockTtlMs };
    const shared = await openSharedStores(1);
    closeStores = shared.close;
    // The store times out on the relayer lock's renewals (as a busy process's Redis client does)
    // while `renewalFailures` lasts; everything else gets through.
    let renewalFailures = 0;
    let failedRenewals = 0;
    const inner = shared.stores[0]!;
    const store = new Proxy(inner, {
      get: (target, prop) => {
        const value = Reflect.get(target, prop) as unknown;
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          const renewal = (prop === 'get' || prop === 'expireMs' || prop === 'expireIfEquals') && String(args[0]).endsWith(RELAY_LOCK_KEY);
          if (renewal && renewalFailures > 0) {
            renewalFailures--;
            failedRenewals++;
            return Promise.reject(new StoreUnavailableError('redis PEXPIRE failed: Command timed out (test)'));
          }
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const node = await new Instance(database, store, () => ledger.client, config).start();
    instances = [node];
    await until(() => node.service.relay.isLeader, 'the relayer');
    const sub = await node.subscribe('user-a', 0n);

    // One renewal fails: the lease it renewed a moment ago still holds, so it goes on leading.
    renewalFailures = 1;
    let steppedDown = false;
    const watch = setInterval(() => {
      if (!node.service.relay.isLeader) steppedDown = true;
    }, 5);
    try {
      await until(() => failedRenewals === 1, 'a failed renewal');
      const id = ledger.append('user-a');
      await until(() => sub.events.length === 1, 'an event after the failed renewal');
      expect(sub.ids()).toEqual([id]);
      // Two more renewals (a third of the lease apart) have succeeded since.
      await new Promise((resolve) => setTimeout(resolve, config.lockTtlMs));
      expect(steppedDown).toBe(false);
    } finally {
      clearInterval(watch);
    }

    // Renewals fail for longer than the lease: it stops leading, then leads again once they get through.
    renewalFailures = 1_000;
    await until(() => !node.service.relay.isLeader, 'stepping down');
    renewalFailures = 0;
    await until(() => node.service.relay.isLeader, 'leading again');
    const later = ledger.append('user-a');
    await until(() => sub.events.length === 2, 'an event after leading again');
    expect(sub.ids().at(-1)).toBe(later);
    sub.call.cancel();
  });

  it('ends the streams of a revoked session at once with UNAUTHENTICATED, frees their slots, and keeps the others', async () => {
    const [node] = await startInstances(1, { ...testConfig, streamsPerUser: 1 });
    const revoked = await node!.subscribe('user-a');
    const other = await node!.subscribe('user-b');
    const first = ledger.append('user-a');
    await until(() => revoked.events.length === 1, 'the first event');
    // The user service revoked the session (the row) and then announced it (the fact).
    node!.sessions.revoked.add('token-user-a');
    await publishRevocationFact(shared!.stores[0]!, { kind: 'sessions', userId: 'user-a', deviceId: null }, silentLogger);
    const status = await revoked.status;
    expect(status.code).toBe(grpc.status.UNAUTHENTICATED);
    ledger.append('user-a');
    const marker = ledger.append('user-b');
    await until(() => other.events.length === 1, "the other user's event");
    expect(other.ids()).toEqual([marker]);
    expect(revoked.ids()).toEqual([first]);
    expect(other.ended).toBe(false);
    // The only slot is free again: a new stream (a new session) is accepted.
    node!.sessions.revoked.clear();
    const again = await node!.subscribe('user-a');
    expect(again.ended).toBe(false);
    again.call.cancel();
    other.call.cancel();
  });

  it('ends the streams of a revoked device, and a stream whose session cannot be checked after a revocation ends UNAVAILABLE', async () => {
    const [node] = await startInstances(1);
    const onDevice = await node!.subscribe('user-a');
    const unchecked = await node!.subscribe('user-b');
    await publishRevocationFact(shared!.stores[0]!, { kind: 'device', deviceId: 'device-user-a' }, silentLogger);
    expect((await onDevice.status).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(unchecked.ended).toBe(false);
    node!.sessions.down = true;
    await publishRevocationFact(shared!.stores[0]!, { kind: 'sessions', userId: 'user-b', deviceId: 'device-user-b' }, silentLogger);
    expect((await unchecked.status).code).toBe(grpc.status.UNAVAILABLE);
  });

  it('re-checks every stream periodically: a revocation whose fact was lost still ends its stream', async () => {
    const [node] = await startInstances(1, { ...testConfig, recheckMs: 100 });
    const kept = await node!.subscribe('user-b');
    node!.sessions.down = true;
    const checks = node!.sessions.checks;
    await until(() => node!.sessions.checks > checks + 1, 'periodic re-checks');
    // A check that cannot be made keeps the stream (it was valid at its last check).
    expect(kept.ended).toBe(false);
    node!.sessions.down = false;
    const lost = await node!.subscribe('user-a');
    // Revoked, and the announcement never arrived.
    node!.sessions.revoked.add('token-user-a');
    expect((await lost.status).code).toBe(grpc.status.UNAUTHENTICATED);
    expect(kept.ended).toBe(false);
    kept.call.cancel();
  });

  it('publishes each outbox range once even when two relayers overlap (the cursor is compare-and-set)', async () => {
    // Background rounds are parked (a long poll interval) so the two rounds below are the only ones.
    const nodes = await startInstances(2, { ...testConfig, pollMs: 60_000 });
    const sub = await nodes[0]!.subscribe('user-a', 0n);
    const ids = range(1n, 30n).map(() => ledger.append('user-a'));
    // Both run a round at once, as two replicas would if the lock were lost during a pause.
    const counts = await Promise.all(nodes.map((n) => n.service.relay.relayOnce()));
    expect(counts.sort((x, y) => x - y)).toEqual([0, ids.length]);
    await until(() => sub.events.length >= ids.length, 'all events');
    const marker = ledger.append('user-a');
    expect(await nodes[1]!.service.relay.relayOnce()).toBe(1);
    // Any duplicate would have arrived before the marker.
    await until(() => sub.events.length > ids.length, 'the marker');
    expect(sub.ids()).toEqual([...ids, marker]);
    sub.call.cancel();
  });

  it('resumes after last-event-id with every missed event once, then live ones', async () => {
    const [node] = await startInstances(1);
    const first = await node!.subscribe('user-a');
    const seen = range(1n, 5n).map(() => ledger.append('user-a'));
    ledger.append('user-b');
    await until(() => first.events.length === seen.length, 'the first events');
    first.call.cancel();
    await first.status;
    const last = BigInt(first.events.at(-1)!.id);

    // Missed while disconnected; more keep coming while the client reconnects.
    const missed = range(1n, 20n).map((i) => ledger.append(i % 3n === 0n ? 'user-b' : 'user-a'));
    let appending = true;
    const during: bigint[] = [];
    const appender = (async () => {
      while (appending) {
        during.push(ledger.append('user-a'));
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    const resumed = await node!.subscribe('user-a', last);
    appending = false;
    await appender;
    const after = ledger.append('user-a');
    const expected = [...missed.filter((id) => ledger.outbox[Number(id) - 1]!.userId === 'user-a'), ...during, after];
    await until(() => resumed.ids().includes(after), 'the live event after the replay');
    expect(resumed.ids()).toEqual(expected);
    expect(resumed.ids()[0]! > last).toBe(true);
    resumed.call.cancel();
  });

  it("replays only the user's newest events, at most the replay limit", async () => {
    const [node] = await startInstances(1, { ...testConfig, replayLimit: 10 });
    const watcher = await node!.subscribe('user-a');
    const ids = range(1n, 25n).map(() => ledger.append('user-a'));
    await until(() => watcher.events.length === ids.length, 'relay of all events');
    watcher.call.cancel();
    const resumed = await node!.subscribe('user-a', 0n);
    const marker = ledger.append('user-a');
    await until(() => resumed.ids().includes(marker), 'a live event after the replay');
    expect(resumed.ids()).toEqual([...ids.slice(-10), marker]);
    resumed.call.cancel();
  });

  it('ends a stream that falls behind with RESOURCE_EXHAUSTED without holding up a fast one; the slow client resumes by id', async () => {
    // The relay publishes a page at a time; a queue larger than a page lets a client that keeps
    // reading absorb any burst.
    const [node] = await startInstances(1, { ...testConfig, queueLimit: 32, batchSize: 4, streamsPerUser: 2 });
    const slow = await node!.subscribe('user-a', undefined, { ownConnection: true });
    const fast = await node!.subscribe('user-a', undefined, { ownConnection: true });
    slow.call.pause();
    // Large events fill the slow client's transport window, so its queue must overflow.
    const content = 'x'.repeat(16 * 1024);
    const ids = range(1n, 300n).map(() => ledger.append('user-a', 'Transfer', content));
    await until(() => fast.events.length === ids.length, 'the fast client to get everything');
    expect(fast.ids()).toEqual(ids);
    // While the slow client still reads nothing, the server has already let go of its stream:
    // its slot (2 per user here) is free for a new one.
    let third = await node!.subscribe('user-a', undefined, { waitLive: false });
    await until(async () => {
      if (!third.ended) return node!.liveCount('user-a') > 2;
      third = await node!.subscribe('user-a', undefined, { waitLive: false });
      return false;
    }, 'the stuck stream to release its slot');
    expect(slow.ended).toBe(false);
    third.call.cancel();
    await third.status;
    slow.call.resume();
    const status = await slow.status;
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // It got a prefix of the events, with nothing skipped, and far from all of them.
    expect(slow.ids()).toEqual(ids.slice(0, slow.events.length));
    expect(slow.events.length).toBeLessThan(ids.length);

    const resumed = await node!.subscribe('user-a', slow.events.at(-1)?.id ?? 0n);
    await until(() => slow.events.length + resumed.events.length >= ids.length, 'the rest after resuming');
    expect([...slow.ids(), ...resumed.ids()]).toEqual(ids);
    fast.call.cancel();
    resumed.call.cancel();
  });

  it('limits concurrent streams per user across replicas', async () => {
    const nodes = await startInstances(2, { ...testConfig, streamsPerUser: 3 });
    const open = [await nodes[0]!.subscribe('user-a'), await nodes[1]!.subscribe('user-a'), await nodes[0]!.subscribe('user-a')];
    const refused = await nodes[1]!.subscribe('user-a', undefined, { waitLive: false });
    expect((await refused.status).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // Another user is not affected.
    const other = await nodes[1]!.subscribe('user-b');
    expect(other.ended).toBe(false);
    // A freed slot can be taken again.
    open[0]!.call.cancel();
    await open[0]!.status;
    let again = await nodes[1]!.subscribe('user-a', undefined, { waitLive: false });
    await until(async () => {
      if (!again.ended) return nodes[1]!.liveCount('user-a') > 1;
      again = await nodes[1]!.subscribe('user-a', undefined, { waitLive: false });
      return false;
    }, 'a stream in the freed slot');
    const id = ledger.append('user-a');
    await until(() => again.ids().includes(id), 'delivery on the new stream');
    for (const s of [...open, other, again]) s.call.cancel();
  });

  it('refuses a malformed last-event-id', async () => {
    const [node] = await startInstances(1);
    for (const bad of ['abc', '-1', '18446744073709551616', '']) {
      const sub = await node!.subscribe('user-a', bad, { waitLive: false });
      expect((await sub.status).code).toBe(grpc.status.INVALID_ARGUMENT);
    }
  });

  it('ends streams with OK at shutdown', async () => {
    const [node] = await startInstances(1);
    const a = await node!.subscribe('user-a');
    const b = await node!.subscribe('user-b');
    const id = ledger.append('user-a');
    await until(() => a.events.length === 1, 'an event before shutdown');
    await node!.stop();
    instances = [];
    expect((await a.status).code).toBe(grpc.status.OK);
    expect((await b.status).code).toBe(grpc.status.OK);
    expect(a.ids()).toEqual([id]);
  });
});
