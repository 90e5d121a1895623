import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from '@kfrm/logging';
import type { Store, Unsubscribe } from '@kfrm/store';
import { encodeEvents, EVENTS_CHANNEL, WAKE_CHANNEL, type NotificationEvent, type OutboxSource } from './notification-event';
import { purgeEventsBefore, readCursor, saveRelayed } from './notification.repository';
import type { NotificationDatabase } from './notification.table';

export interface OutboxRelayOptions {
  /** How often the active relayer polls the outbox when nobody wakes it. */
  pollMs: number;
  /** Lifetime of the relayer lock; renewed every third of it while the relayer is alive. */
  lockTtlMs: number;
  /** Outbox events read per call (the ledger allows up to 1000). */
  batchSize: number;
  /** Relayed events older than this are purged from the replay table. */
  retentionMs: number;
  /** How often the active relayer purges. */
  purgeEveryMs: number;
}

export const RELAY_LOCK_KEY = 'relay-lock';
const MAX_UNPUBLISHED = 10_000;
/** Events per pub/sub message: one publish per page fragment, not per event. */
const PUBLISH_CHUNK = 100;

/** Another store channel whose messages wake the relay (the ledger's commit announcements). */
export interface RelayWakeSource {
  store: Store;
  channel: string;
}

/**
 * Moves committed events from the ledger's outbox to subscribers. One replica at a time holds
 * the relayer lock (a store key with a TTL, renewed while alive, released with compare-and-delete);
 * the others retry it now and then, so a crashed relayer is replaced within the lock's TTL.
 *
 * Each round: fetch the next page after the cursor, copy the page into `events` and move the
 * cursor in one statement (compare-and-set: an overlapping relayer loses and publishes nothing),
 * and only then publish each event on its user's channel. The cursor is remembered between rounds
 * (it runs once per ledger commit: a read per round would cost a round trip each time) and read
 * again only when it may be stale. Publishing after the commit
 * is what makes a subscriber's "subscribe, then replay from `events`" gap-free: an event is either
 * in `events` when the replay reads, or published after the subscription is active.
 */
export class OutboxRelay {
  private readonly token = randomUUID();
  private leader = false;
  private stopped = false;
  private loop: Promise<void> | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private renewing = false;
  /** Stepped down after a renewal the store did not answer: the lock may still hold our token. */
  private mayStillHold = false;
  /**
   * When our lock has surely lapsed unless renewed (performance.now(), from when the command that
   * set or extended it was sent: the store starts its TTL later than that, never earlier).
   */
  private leaseEndsAt = 0;
  private wake: (() => void) | undefined;
  private woken = false;
  private unsubscribeWake: Unsubscribe | undefined;
  private unsubscribeCommits: Unsubscribe | undefined;
  private lastPurge = 0;
  /**
   * Events committed to `events` whose publish failed (the store was down): published again,
   * in order, before the next page, so live streams on other replicas get them too. Bounded:
   * beyond it a stream's own gap replay from `events` is what delivers them.
   */
  private unpublished: NotificationEvent[] = [];
  /**
   * The cursor as this relayer last read or moved it; undefined when it must be read again: at
   * start, on taking the lock, after another relayer moved it, after a failed round. Only a cache:
   * the row's compare-and-set stays the authority, so a stale value costs one lost round, never
   * an event.
   */
  private cursor: bigint | undefined;

  constructor(
    private readonly db: Kysely<NotificationDatabase>,
    private readonly store: Store,
    private readonly source: OutboxSource,
    private readonly logger: Logger,
    private readonly options: OutboxRelayOptions,
    private readonly wakeSource?: RelayWakeSource,
  ) {}

  /** True while this instance holds the relayer lock (for tests and health). */
  get isLeader(): boolean {
    return this.leader;
  }

  start(): void {
    this.loop ??= this.run();
  }

  /** Makes the active relayer poll now (any replica may call it; it travels through the store). */
  async nudge(): Promise<void> {
    await this.store.publish(WAKE_CHANNEL, '1');
  }

  /** Stops polling, waits for the round in progress, and releases the lock for another replica. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
    await this.loop;
    await this.unsubscribeWake?.();
    await this.unsubscribeCommits?.();
    if (this.renewTimer) clearInterval(this.renewTimer);
    if (this.leader) {
      this.leader = false;
      await this.store.compareAndDelete(RELAY_LOCK_KEY, this.token).catch(() => undefined);
    }
  }

  private async run(): Promise<void> {
    try {
      this.unsubscribeWake = await this.store.subscribe(WAKE_CHANNEL, () => this.signalWake());
    } catch (err) {
      // Polling alone still delivers; the wake-up only shortens the wait.
      this.logger.warn({ err }, 'relay wake-up channel unavailable');
    }
    if (this.wakeSource) {
      try {
        // Every replica listens; only the leader's round reads the outbox, the others just retry the lock.
        this.unsubscribeCommits = await this.wakeSource.store.subscribe(this.wakeSource.channel, () => this.signalWake());
      } catch (err) {
        this.logger.warn({ err }, 'ledger commit announcements unavailable; polling only');
      }
    }
    // The first round waits one interval: the ledger client is usable once the listeners are up.
    await this.sleep(this.options.pollMs);
    let failures = 0;
    while (!this.stopped) {
      let full = false;
      try {
        if (!this.leader) await this.tryAcquire();
        if (this.leader) {
          full = (await this.relayOnce()) >= this.options.batchSize;
          await this.purgeIfDue();
        }
        failures = 0;
      } catch (err) {
        // Ledger, database or store down: back off (up to 5 s) so the log and the callee are not flooded.
        failures++;
        if (failures === 1 || failures % 20 === 0) this.logger.warn({ err, failures }, 'outbox relay round failed');
        await this.sleep(Math.min(5_000, this.options.pollMs * 2 ** Math.min(failures, 10)));
        continue;
      }
      // A full page means more is waiting: go on without sleeping.
      // A replica without the lock retries it several times per TTL, so a dead leader's lock is
      // taken soon after it lapses (failover within the TTL plus one retry interval).
      if (!full) await this.sleep(this.leader ? this.options.pollMs : Math.min(this.options.pollMs, this.options.lockTtlMs / 6));
    }
  }

  private async tryAcquire(): Promise<void> {
    const sentAt = performance.now();
    if (!(await this.store.setIfAbsent(RELAY_LOCK_KEY, this.token, this.options.lockTtlMs))) {
      // We stepped down while the store did not answer, so the lock may still be ours: take it
      // up again at once rather than wait out our own lease (asked once, not on every retry).
      if (!this.mayStillHold) return;
      this.mayStillHold = false;
      if (!(await this.store.expireIfEquals(RELAY_LOCK_KEY, this.token, this.options.lockTtlMs))) return;
    }
    this.leaseEndsAt = sentAt + this.options.lockTtlMs;
    this.leader = true;
    // Others may have relayed while we did not hold the lock.
    this.cursor = undefined;
    this.logger.info('relayer lock acquired');
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = setInterval(() => void this.renew(), this.renewIntervalMs());
    this.renewTimer.unref();
  }

  private async renew(): Promise<void> {
    // A renewal the store is slow to answer is not doubled by the next tick.
    if (this.renewing || !this.leader) return;
    this.renewing = true;
    const sentAt = performance.now();
    try {
      // Extends the lock only while it is still ours (one atomic command).
      if (await this.store.expireIfEquals(RELAY_LOCK_KEY, this.token, this.options.lockTtlMs)) {
        this.leaseEndsAt = sentAt + this.options.lockTtlMs;
        return;
      }
      this.logger.warn('relayer lock lost');
    } catch (err) {
      // The store did not answer (a busy process's Redis client times out now and then). The lock
      // is ours until its lease runs out: lead on if the next renewal comes before that. Stepping
      // down at once left nobody relaying until our own lease lapsed, since no replica, this
      // one included, could take a lock still held. (The cursor's compare-and-set keeps any
      // overlap from double-publishing either way.)
      if (performance.now() + this.renewIntervalMs() < this.leaseEndsAt) {
        this.logger.warn({ err }, 'relayer lock renewal failed; the lease still holds, retrying');
        return;
      }
      this.logger.warn({ err }, 'relayer lock renewal failed');
      this.mayStillHold = true;
    } finally {
      this.renewing = false;
    }
    this.leader = false;
    // The next relayer publishes from its own rounds; streams replay the rest from `events`.
    this.unpublished = [];
    if (this.renewTimer) clearInterval(this.renewTimer);
    this.renewTimer = undefined;
  }

  private renewIntervalMs(): number {
    return Math.max(1, Math.floor(this.options.lockTtlMs / 3));
  }

  /** One round; returns how many events it relayed. */
  async relayOnce(): Promise<number> {
    try {
      return await this.relayPage();
    } catch (err) {
      // Whether a failed write committed is unknown: read the row again rather than guess.
      this.cursor = undefined;
      throw err;
    }
  }

  private async relayPage(): Promise<number> {
    await this.publishAll([]);
    this.cursor ??= await readCursor(this.db);
    const cursor = this.cursor;
    const events = await this.source.listAfter(cursor, this.options.batchSize);
    const last = events.at(-1);
    if (!last) return 0;
    const deliverable = events.filter((e) => e.userId !== '');
    if (!(await saveRelayed(this.db, cursor, last.id, deliverable))) {
      this.cursor = undefined;
      this.logger.warn({ cursor: cursor.toString() }, 'another relayer moved the cursor; this round publishes nothing');
      return 0;
    }
    this.cursor = last.id;
    await this.publishAll(deliverable);
    this.logger.debug({ count: events.length, last_id: last.id.toString() }, 'outbox events relayed');
    return events.length;
  }

  /**
   * Publishes what is still owed from earlier rounds, then `events`. On a failure the rest is
   * kept for the next round (the events are committed: they must still reach live streams).
   */
  private async publishAll(events: NotificationEvent[]): Promise<void> {
    const owed = [...this.unpublished, ...events];
    this.unpublished = [];
    for (let i = 0; i < owed.length; i += PUBLISH_CHUNK) {
      try {
        await this.store.publish(EVENTS_CHANNEL, encodeEvents(owed.slice(i, i + PUBLISH_CHUNK)));
      } catch (err) {
        this.unpublished = owed.slice(i, i + MAX_UNPUBLISHED);
        throw err;
      }
    }
  }

  private async purgeIfDue(): Promise<void> {
    const now = Date.now();
    if (now - this.lastPurge < this.options.purgeEveryMs) return;
    this.lastPurge = now;
    const purged = await purgeEventsBefore(this.db, new Date(now - this.options.retentionMs));
    if (purged > 0n) this.logger.info({ purged: purged.toString() }, 'old notification events purged');
  }

  private signalWake(): void {
    this.woken = true;
    this.wake?.();
  }

  private sleep(ms: number): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }
}
