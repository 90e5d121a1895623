import { createHash } from 'node:crypto';
import { Redis, type RedisOptions } from 'ioredis';
import { StoreUnavailableError } from './errors';
import {
  assertKeys,
  assertString,
  assertTtl,
  type MessageHandler,
  type SetOptions,
  type Store,
  type SubscribeOptions,
  type Unsubscribe,
} from './store';

export interface RedisStoreOptions {
  /** TCP connect (+ TLS) timeout per attempt, ms. Default 2000. */
  connectTimeoutMs?: number;
  /**
   * A command without a reply after this long rejects with StoreUnavailableError, ms. Default 2000.
   * This is what turns a black-holed connection (no RST, no reply) into an error instead of a
   * request that hangs until the kernel gives up minutes later.
   */
  commandTimeoutMs?: number;
  /** How long `createRedisStore` waits for the first connection to become ready, ms. Default 5000. */
  readyTimeoutMs?: number;
  /** Upper bound of the background reconnect back-off, ms. Default 2000. */
  maxReconnectDelayMs?: number;
  /** `CLIENT SETNAME` for the connections (the subscriber gets `:sub`), to find them in `CLIENT LIST`. */
  connectionName?: string;
  /**
   * Receives connection loss (once per outage, not once per retry) and subscriber errors.
   * Default: console.error.
   */
  onError?: (error: unknown, context: string) => void;
}

/**
 * INCR, then give the key a TTL if it has none. After INCR the key exists, so PTTL is -1 exactly
 * when the key was just created (or was somehow written without a TTL): the window is fixed at
 * creation and a counter can never outlive it. One script = atomic on the server.
 */
const INCR_WITH_TTL = `
local n = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return n
`;

/** INCR_WITH_TTL unless KEYS[2] exists: then -1, nothing written. */
const INCR_WITH_TTL_UNLESS_EXISTS = `
if redis.call('EXISTS', KEYS[2]) == 1 then
  return -1
end${INCR_WITH_TTL}`;

/** SET KEYS[1] NX PX, and only when that set it, SET KEYS[2] PX: 1 when both were written, else 0. */
const SET_IF_ABSENT_THEN_SET = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return 1
end
return 0
`;

/** Delete only when the value matches (lock release by the holder's token). */
const COMPARE_AND_DELETE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/**
 * A key already holding the value is the claim (its TTL renewed): a repeated claim whose answer
 * was lost gets the same key. Else SET NX PX on each key in order until one is set. Its 0-based
 * index, or -1.
 */
const SET_FIRST_ABSENT = `
for i, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('PEXPIRE', key, ARGV[2])
    return i - 1
  end
end
for i, key in ipairs(KEYS) do
  if redis.call('SET', key, ARGV[1], 'NX', 'PX', ARGV[2]) then
    return i - 1
  end
end
return -1
`;

/** PEXPIRE only while the value matches (a lease renewed by its holder only). */
const EXPIRE_IF_EQUALS = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

interface Script {
  source: string;
  sha: string;
}

const script = (source: string): Script => ({ source, sha: createHash('sha1').update(source).digest('hex') });
const SCRIPTS = {
  incrWithTtl: script(INCR_WITH_TTL),
  setIfAbsentThenSet: script(SET_IF_ABSENT_THEN_SET),
  incrWithTtlUnlessExists: script(INCR_WITH_TTL_UNLESS_EXISTS),
  compareAndDelete: script(COMPARE_AND_DELETE),
  setFirstAbsent: script(SET_FIRST_ABSENT),
  expireIfEquals: script(EXPIRE_IF_EQUALS),
};

/**
 * Server replies that mean "Redis cannot serve you right now" rather than "you used it wrong".
 * Everything ioredis raises that is not a server reply (connection closed, stream not writable,
 * command timed out, max retries, aborted) is unavailability too.
 */
const UNAVAILABLE_REPLY = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOAUTH|WRONGPASS|NOPERM|OOM|MISCONF)\b/;

function isReplyError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ReplyError';
}

function isUnavailable(error: unknown): boolean {
  return !isReplyError(error) || UNAVAILABLE_REPLY.test(error.message);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The URL without its password, for error messages and logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<invalid url>';
  }
}

function parseRedisUrl(url: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`redisUrl is not a valid URL: ${redactRedisUrl(url)}`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`redisUrl must use redis: or rediss:, got ${parsed.protocol}`);
  }
}

/**
 * Connects (the client must have been created with lazyConnect) and resolves when it is ready.
 * Rejects on the FIRST connection error or after `timeoutMs`, and then disconnects the client so
 * it does not keep retrying in the background: at startup an unreachable Redis should stop the
 * service with a clear message (and let the orchestrator restart it), not leave it half up.
 */
function connectReady(client: Redis, timeoutMs: number, url: string, role: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    const finish = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('error', onError);
      client.off('end', onEnd);
      if (error === undefined) return resolve();
      client.disconnect();
      reject(
        new StoreUnavailableError(`cannot connect to Redis at ${redactRedisUrl(url)} (${role}): ${messageOf(error)}`, {
          cause: error,
        }),
      );
    };
    const onReady = (): void => finish();
    const onError = (error: unknown): void => finish(error);
    const onEnd = (): void => finish(new Error('connection ended before it was ready'));
    const timer = setTimeout(() => finish(new Error(`not ready after ${timeoutMs} ms`)), timeoutMs);
    client.once('ready', onReady);
    client.on('error', onError);
    client.once('end', onEnd);
    // Failures arrive through the events above (with the real cause); connect()'s own
    // rejection only says "Connection is closed.".
    client.connect().catch(() => {});
  });
}

async function shutdown(client: Redis): Promise<void> {
  if (client.status === 'ready') {
    // QUIT lets Redis finish what we already sent; don't wait long for it.
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([client.quit().catch(() => {}), new Promise<void>((resolve) => (timer = setTimeout(resolve, 500)))]);
    clearTimeout(timer);
  }
  client.disconnect(); // no-op after a clean QUIT; stops reconnect attempts otherwise
}

interface ChannelState {
  handlers: Set<{ handler: MessageHandler; active: boolean; onGap?: () => void }>;
  /** Settles when Redis has acknowledged SUBSCRIBE; later subscribers to the channel wait on it too. */
  ready: Promise<void>;
}

/**
 * Store backed by Redis (>= 6.2, for GETDEL) through ioredis. Shared by every instance of a
 * service, so counters, challenges and locks are global.
 *
 * Failure behaviour: no offline queue and no command retries. While the connection is down every
 * call rejects at once with StoreUnavailableError; commands in flight when it drops reject too
 * (their outcome is unknown — they are NOT replayed, because replaying INCR or GETDEL would
 * double-count or lose a value). The client reconnects in the background, with back-off, and
 * calls succeed again once it is back; subscriptions are re-established automatically (messages
 * published during the outage are lost: pub/sub is at-most-once).
 *
 * Construct with {@link createRedisStore}, which waits for the connection.
 */
export class RedisStore implements Store {
  private readonly client: Redis;
  private readonly options: Required<Omit<RedisStoreOptions, 'onError'>>;
  private readonly onError: (error: unknown, context: string) => void;
  private subscriber: Promise<Redis> | undefined;
  private readonly channels = new Map<string, ChannelState>();
  private closed = false;

  /** @internal use createRedisStore */
  constructor(
    private readonly url: string,
    options: RedisStoreOptions = {},
  ) {
    parseRedisUrl(url);
    this.options = {
      connectTimeoutMs: options.connectTimeoutMs ?? 2000,
      commandTimeoutMs: options.commandTimeoutMs ?? 2000,
      readyTimeoutMs: options.readyTimeoutMs ?? 5000,
      maxReconnectDelayMs: options.maxReconnectDelayMs ?? 2000,
      connectionName: options.connectionName ?? 'kfrm-store',
    };
    this.onError = options.onError ?? ((error, context) => console.error(`[store] ${context}`, error));
    const { connectTimeoutMs, commandTimeoutMs, maxReconnectDelayMs, connectionName } = this.options;
    const redisOptions: RedisOptions = {
      lazyConnect: true,
      connectionName,
      connectTimeout: connectTimeoutMs,
      commandTimeout: commandTimeoutMs,
      // Fail fast: nothing is queued while disconnected...
      enableOfflineQueue: false,
      // ...and commands in flight when the connection drops are rejected, not replayed.
      maxRetriesPerRequest: 0,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), maxReconnectDelayMs),
      enableReadyCheck: true,
      autoResubscribe: true,
      keepAlive: 10_000,
    };
    this.client = new Redis(url, redisOptions);
    this.watchConnection(this.client, 'command connection');
  }

  /** Connects the command connection; see createRedisStore. */
  async connect(): Promise<void> {
    await connectReady(this.client, this.options.readyTimeoutMs, this.url, 'commands');
  }

  get(key: string): Promise<string | null> {
    return this.run('GET', () => this.client.get(key));
  }

  async set(key: string, value: string, options: SetOptions): Promise<void> {
    assertString(value, 'value');
    assertTtl(options?.ttlMs);
    await this.run('SET', () => this.client.set(key, value, 'PX', options.ttlMs));
  }

  async setIfAbsent(key: string, value: string, ttlMs: number): Promise<boolean> {
    assertString(value, 'value');
    assertTtl(ttlMs);
    const reply = await this.run('SET NX', () => this.client.set(key, value, 'PX', ttlMs, 'NX'));
    return reply === 'OK';
  }

  async setIfAbsentThenSet(
    key: string,
    value: string,
    ttlMs: number,
    then: { key: string; value: string; ttlMs: number },
  ): Promise<boolean> {
    assertString(value, 'value');
    assertString(then.value, 'value');
    assertTtl(ttlMs);
    assertTtl(then.ttlMs);
    const created = await this.run('SET NX+SET', () =>
      this.evalScript(SCRIPTS.setIfAbsentThenSet, [key, then.key], [value, String(ttlMs), then.value, String(then.ttlMs)]),
    );
    return Number(created) === 1;
  }

  async setFirstAbsent(keys: readonly string[], value: string, ttlMs: number): Promise<number> {
    assertKeys(keys);
    assertString(value, 'value');
    assertTtl(ttlMs);
    return Number(await this.run('set-first-absent', () => this.evalScript(SCRIPTS.setFirstAbsent, keys, [value, String(ttlMs)])));
  }

  async expireIfEquals(key: string, expected: string, ttlMs: number): Promise<boolean> {
    assertString(expected, 'expected');
    assertTtl(ttlMs);
    const renewed = await this.run('expire-if-equals', () => this.evalScript(SCRIPTS.expireIfEquals, [key], [expected, String(ttlMs)]));
    return Number(renewed) === 1;
  }

  getDel(key: string): Promise<string | null> {
    return this.run('GETDEL', () => this.client.getdel(key));
  }

  async del(key: string): Promise<boolean> {
    return (await this.run('DEL', () => this.client.del(key))) > 0;
  }

  async expireMs(key: string, ttlMs: number): Promise<boolean> {
    assertTtl(ttlMs);
    return (await this.run('PEXPIRE', () => this.client.pexpire(key, ttlMs))) === 1;
  }

  async ttlMs(key: string): Promise<number | null> {
    const ttl = await this.run('PTTL', () => this.client.pttl(key));
    if (ttl === -2) return null;
    if (ttl === -1) return Number.POSITIVE_INFINITY;
    return Math.max(1, ttl);
  }

  async incrWithTtl(key: string, ttlMs: number): Promise<number> {
    assertTtl(ttlMs);
    return Number(await this.run('INCR+PEXPIRE', () => this.evalScript(SCRIPTS.incrWithTtl, [key], [String(ttlMs)])));
  }

  async incrWithTtlUnlessExists(key: string, guardKey: string, ttlMs: number): Promise<number | null> {
    assertTtl(ttlMs);
    const n = Number(
      await this.run('EXISTS?INCR+PEXPIRE', () => this.evalScript(SCRIPTS.incrWithTtlUnlessExists, [key, guardKey], [String(ttlMs)])),
    );
    return n < 0 ? null : n;
  }

  async compareAndDelete(key: string, expected: string): Promise<boolean> {
    assertString(expected, 'expected');
    const deleted = await this.run('compare-and-delete', () => this.evalScript(SCRIPTS.compareAndDelete, [key], [expected]));
    return Number(deleted) === 1;
  }

  async publish(channel: string, message: string): Promise<void> {
    assertString(message, 'message');
    await this.run('PUBLISH', () => this.client.publish(channel, message));
  }

  async subscribe(channel: string, onMessage: MessageHandler, options: SubscribeOptions = {}): Promise<Unsubscribe> {
    assertString(channel, 'channel');
    if (typeof onMessage !== 'function') throw new TypeError('onMessage must be a function');
    const subscriber = await this.run('connect subscriber', () => this.getSubscriber());

    let existing = this.channels.get(channel);
    if (!existing) {
      // Issued synchronously after any pending UNSUBSCRIBE for the same channel, and Redis
      // processes one connection's commands in order, so the channel ends up subscribed.
      existing = { handlers: new Set(), ready: subscriber.subscribe(channel).then(() => undefined) };
      this.channels.set(channel, existing);
    }
    const state = existing;
    const entry = { handler: onMessage, active: true, onGap: options.onGap };
    state.handlers.add(entry);
    try {
      await this.run('SUBSCRIBE', () => state.ready);
    } catch (error) {
      entry.active = false;
      state.handlers.delete(entry);
      // The whole channel failed to subscribe: forget it so the next attempt retries.
      if (this.channels.get(channel) === state) this.channels.delete(channel);
      throw error;
    }

    return async () => {
      if (!entry.active) return;
      entry.active = false;
      state.handlers.delete(entry);
      if (state.handlers.size > 0 || this.channels.get(channel) !== state) return;
      this.channels.delete(channel);
      if (this.closed) return;
      try {
        await subscriber.unsubscribe(channel);
      } catch (error) {
        // Locally we are already unsubscribed (nothing is delivered any more). Server-side the
        // channel stays subscribed until the connection is re-established; stray messages for
        // it are ignored.
        this.onError(error, `UNSUBSCRIBE ${channel} failed`);
      }
    };
  }

  async ping(): Promise<void> {
    await this.run('PING', () => this.client.ping());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const state of this.channels.values()) {
      for (const entry of state.handlers) entry.active = false;
    }
    this.channels.clear();
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    await Promise.all([
      shutdown(this.client),
      subscriber?.then(shutdown, () => {}), // a failed subscriber connection was already disconnected
    ]);
  }

  /** Runs one Redis call, turning connection-level failures into StoreUnavailableError. */
  private async run<T>(operation: string, call: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StoreUnavailableError('redis store is closed');
    try {
      return await call();
    } catch (error) {
      if (error instanceof StoreUnavailableError) throw error;
      if (!isUnavailable(error)) throw error; // WRONGTYPE, "not an integer", ...: a bug, not an outage
      throw new StoreUnavailableError(`redis ${operation} failed: ${messageOf(error)}`, { cause: error });
    }
  }

  /** EVALSHA, falling back to EVAL once when the server does not have the script cached. */
  private async evalScript(s: Script, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    try {
      return await this.client.evalsha(s.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (isReplyError(error) && error.message.startsWith('NOSCRIPT')) {
        return await this.client.eval(s.source, keys.length, ...keys, ...args);
      }
      throw error;
    }
  }

  /**
   * The subscriber connection, created on first use: a connection in subscribe mode cannot run
   * other commands (ioredis enforces this), and services that never subscribe should not pay for
   * a second connection.
   */
  private getSubscriber(): Promise<Redis> {
    if (!this.subscriber) {
      const subscriber = this.client.duplicate({ connectionName: `${this.options.connectionName}:sub` });
      subscriber.on('message', (channel: string, message: string) => this.dispatch(channel, message));
      this.watchConnection(subscriber, 'subscriber connection');
      let connectedBefore = false;
      subscriber.on('ready', () => {
        if (connectedBefore) void this.resubscribed(subscriber);
        connectedBefore = true;
      });
      const ready = connectReady(subscriber, this.options.readyTimeoutMs, this.url, 'subscriber').then(async () => {
        if (this.closed) {
          await shutdown(subscriber);
          throw new StoreUnavailableError('redis store is closed');
        }
        return subscriber;
      });
      this.subscriber = ready;
      // If it failed, let the next subscribe() try again with a fresh connection.
      ready.catch(() => {
        if (this.subscriber === ready) this.subscriber = undefined;
      });
    }
    return this.subscriber;
  }

  /**
   * After a lost subscriber connection came back: make sure every channel is subscribed again
   * (ioredis re-sends SUBSCRIBE by itself; waiting for our own SUBSCRIBE's reply proves the
   * server has them all, since it answers one connection in order), then tell each subscriber
   * that messages may have been lost meanwhile. If the connection drops again first, the next
   * 'ready' does it again.
   */
  private async resubscribed(subscriber: Redis): Promise<void> {
    const channels = [...this.channels.keys()];
    if (channels.length === 0 || this.closed) return;
    try {
      await subscriber.subscribe(...channels);
    } catch (error) {
      this.onError(error, 'resubscribe after reconnect failed');
      return;
    }
    for (const channel of channels) {
      const state = this.channels.get(channel);
      for (const entry of state ? [...state.handlers] : []) {
        if (!entry.active || !entry.onGap) continue;
        try {
          entry.onGap();
        } catch (error) {
          this.onError(error, `gap handler on channel '${channel}' threw`);
        }
      }
    }
  }

  private dispatch(channel: string, message: string): void {
    const state = this.channels.get(channel);
    if (!state) return;
    for (const entry of [...state.handlers]) {
      if (!entry.active) continue;
      try {
        const result = entry.handler(message);
        if (result && typeof (result as Promise<void>).then === 'function') {
          (result as Promise<void>).then(undefined, (error: unknown) => this.onError(error, `subscriber on channel '${channel}' rejected`));
        }
      } catch (error) {
        this.onError(error, `subscriber on channel '${channel}' threw`);
      }
    }
  }

  /**
   * Reports a lost connection once per outage (ioredis emits an error on every failed retry) and
   * keeps ioredis from printing "Unhandled error event".
   */
  private watchConnection(client: Redis, what: string): void {
    let up = false;
    client.on('ready', () => {
      up = true;
    });
    const lost = (error: unknown): void => {
      if (!up || this.closed) return;
      up = false;
      this.onError(error, `redis ${what} lost; failing calls fast and reconnecting`);
    };
    client.on('error', lost);
    client.on('close', () => lost(new Error('connection closed')));
  }
}

/**
 * Connects to Redis and resolves once the connection is ready. Rejects with
 * StoreUnavailableError (cause: ECONNREFUSED, ETIMEDOUT, WRONGPASS, ...) on the first failure or
 * after `readyTimeoutMs`, so a service with a wrong or unreachable REDIS_URL fails at startup
 * with a clear message. Rejects with TypeError for a malformed URL.
 */
export async function createRedisStore(url: string, options?: RedisStoreOptions): Promise<RedisStore> {
  const store = new RedisStore(url, options);
  await store.connect();
  return store;
}
