/**
 * Redis store tests. Redis comes from REDIS_URL when set, else from a testcontainers Redis when a
 * Docker engine is reachable; otherwise the Redis-backed tests are skipped (visibly). The
 * "unreachable Redis" tests need no Redis at all and always run.
 */
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeStoreContract } from './contract';
import { createStore, prefixed, StoreUnavailableError, type Store } from './index';
import { createRedisStore, type RedisStoreOptions } from './redis-store';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function eventually(check: () => void | Promise<void>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(25);
    }
  }
}

/** Settles with the error (or undefined) and how long the call took. */
async function timed(call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> {
  const start = performance.now();
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { error, ms: performance.now() - start };
}

type Target = { kind: 'url'; url: string } | { kind: 'container' } | { kind: 'skip'; reason: string };

async function findRedis(): Promise<Target> {
  if (process.env.REDIS_URL) return { kind: 'url', url: process.env.REDIS_URL };
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      getContainerRuntimeClient(),
      new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out after 5 s')), 5000))),
    ]).finally(() => clearTimeout(timer));
    return { kind: 'container' };
  } catch (error) {
    return { kind: 'skip', reason: `REDIS_URL not set and no Docker engine reachable (${(error as Error).message})` };
  }
}

const target = await findRedis();
const quiet: RedisStoreOptions = { onError: () => {} };

// ---------------------------------------------------------------------------------------------
// Needs no Redis.

describe('Redis store when Redis is unreachable', () => {
  it('createRedisStore fails fast with StoreUnavailableError on a closed port', async () => {
    const { error, ms } = await timed(() => createRedisStore('redis://127.0.0.1:1', quiet));
    expect(error).toBeInstanceOf(StoreUnavailableError);
    expect((error as Error).message).toMatch(/cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/);
    expect(((error as Error).cause as NodeJS.ErrnoException).code).toBe('ECONNREFUSED');
    expect(ms).toBeLessThan(3000);
  });

  it('createStore with a Redis URL does not fall back to memory when Redis is down', async () => {
    await expect(createStore({ redisUrl: 'redis://127.0.0.1:1' }, { redis: quiet })).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it('createRedisStore gives up after readyTimeoutMs on a server that accepts but never answers', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as net.AddressInfo;
    try {
      const { error, ms } = await timed(() =>
        createRedisStore(`redis://127.0.0.1:${port}`, { ...quiet, readyTimeoutMs: 500, commandTimeoutMs: 5000 }),
      );
      expect(error).toBeInstanceOf(StoreUnavailableError);
      expect(ms).toBeLessThan(3000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('rejects a malformed URL as a configuration error', async () => {
    await expect(createRedisStore('localhost:6379')).rejects.toBeInstanceOf(TypeError);
    await expect(createRedisStore('http://localhost:6379')).rejects.toBeInstanceOf(TypeError);
  });
});

// ---------------------------------------------------------------------------------------------
// Needs Redis.

/** A TCP proxy in front of Redis that tests can cut or black-hole, to simulate outages. */
class FlakyProxy {
  private server: net.Server | undefined;
  private readonly pairs = new Set<[net.Socket, net.Socket]>();
  port = 0;

  constructor(
    private readonly upstreamHost: string,
    private readonly upstreamPort: number,
  ) {}

  async start(): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.upstreamPort, this.upstreamHost);
      const pair: [net.Socket, net.Socket] = [client, upstream];
      this.pairs.add(pair);
      client.pipe(upstream);
      upstream.pipe(client);
      const drop = (): void => {
        this.pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', drop).on('close', drop);
      upstream.on('error', drop).on('close', drop);
    });
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve));
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  /** Redis "goes away": live connections are reset and new ones are refused. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    const closed = server ? new Promise((resolve) => server.close(resolve)) : Promise.resolve();
    for (const [client, upstream] of this.pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.pairs.clear();
    await closed;
  }

  /** The network silently drops everything: connections stay open, nothing gets through. */
  blackhole(): void {
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      upstream.pause();
    }
  }

  url(base: string): string {
    const url = new URL(base);
    url.hostname = '127.0.0.1';
    url.port = String(this.port);
    return url.toString();
  }
}

if (target.kind === 'skip') {
  console.warn(`[@kfrm/store] Redis-backed tests skipped: ${target.reason}`);
  describe.skip(`Redis store (skipped: ${target.reason})`, () => {
    it('runs the store contract and outage tests against Redis', () => {});
  });
} else {
  describe('Redis store', () => {
    let redisUrl = target.kind === 'url' ? target.url : '';
    let stopContainer: (() => Promise<unknown>) | undefined;

    beforeAll(async () => {
      if (target.kind !== 'container') return;
      const { RedisContainer } = await import('@testcontainers/redis');
      const container = await new RedisContainer('redis:7-alpine').start();
      redisUrl = container.getConnectionUrl();
      stopContainer = () => container.stop();
    }, 120_000);
    afterAll(async () => {
      await stopContainer?.();
    });

    describeStoreContract('redis', () => createRedisStore(redisUrl, quiet));

    // A view does not own its store, so the underlying stores are closed here.
    const viewBases: Store[] = [];
    afterAll(async () => {
      await Promise.all(viewBases.map((base) => base.close()));
    });
    describeStoreContract('prefixed view over redis', async () => {
      const base = await createRedisStore(redisUrl, quiet);
      viewBases.push(base);
      return prefixed(base, `view-${randomUUID().slice(0, 8)}:`);
    });

    describe('outages', () => {
      let admin: Redis;
      beforeAll(async () => {
        admin = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
        await admin.connect();
      });
      afterAll(async () => {
        await admin?.quit();
      });

      async function clientIdsNamed(name: string): Promise<string[]> {
        const list = (await admin.client('LIST')) as string;
        return list
          .split('\n')
          .filter((line) => line.includes(` name=${name} `))
          .map((line) => /(?:^|\s)id=(\d+)/.exec(line)?.[1] ?? '')
          .filter(Boolean);
      }

      it('CLIENT KILL: calls during the outage settle promptly, the loss is reported once, the store recovers', async () => {
        const name = `kfrm-test-${randomUUID().slice(0, 8)}`;
        const errors: string[] = [];
        const store = await createRedisStore(redisUrl, {
          connectionName: name,
          onError: (_error, context) => void errors.push(context),
        });
        try {
          const key = `it:kill:${randomUUID()}`;
          await store.set(key, 'v', { ttlMs: 30_000 });
          const [id] = await clientIdsNamed(name);
          expect(id).toBeDefined();
          await admin.client('KILL', 'ID', id!);

          // Whatever state the client is in (closing, reconnecting, back), nothing may hang.
          for (let i = 0; i < 20; i++) {
            const { error, ms } = await timed(() => store.get(key));
            if (error !== undefined) expect(error).toBeInstanceOf(StoreUnavailableError);
            expect(ms).toBeLessThan(1000);
          }
          await eventually(async () => expect(await store.get(key)).toBe('v'));
          expect(errors.filter((c) => c.includes('command connection'))).toHaveLength(1);
        } finally {
          await store.close();
        }
      });

      it('CLIENT KILL on the subscriber connection: the subscription is re-established and the gap reported', async () => {
        const name = `kfrm-test-${randomUUID().slice(0, 8)}`;
        const store = await createRedisStore(redisUrl, { ...quiet, connectionName: name });
        try {
          const channel = `it:ch:${randomUUID()}`;
          const got: string[] = [];
          let gaps = 0;
          await store.subscribe(channel, (m) => void got.push(m), { onGap: () => void gaps++ });
          const [id] = await clientIdsNamed(`${name}:sub`);
          expect(id).toBeDefined();
          await admin.client('KILL', 'ID', id!);
          let n = 0;
          await eventually(async () => {
            await store.publish(channel, `m${++n}`);
            await sleep(20);
            expect(got.length).toBeGreaterThan(0);
            expect(gaps).toBe(1);
          });
          // Once the gap is reported the channel is subscribed again: everything published after it arrives.
          const after = Array.from({ length: 3 }, (_, i) => `after-${i}`);
          for (const m of after) await store.publish(channel, m);
          await eventually(async () => expect(got).toEqual(expect.arrayContaining(after)));
        } finally {
          await store.close();
        }
      });

      describe('through a proxy', () => {
        let proxy: FlakyProxy;
        beforeAll(async () => {
          const upstream = new URL(redisUrl);
          proxy = new FlakyProxy(upstream.hostname, Number(upstream.port || 6379));
          await proxy.start();
        });
        afterAll(async () => {
          await proxy?.cut();
        });

        it('while Redis is down every call rejects at once; after it returns calls succeed again', async () => {
          const store = await createRedisStore(proxy.url(redisUrl), { ...quiet, maxReconnectDelayMs: 100 });
          try {
            const key = `it:down:${randomUUID()}`;
            await store.set(key, 'kept', { ttlMs: 30_000 });
            await proxy.cut();
            await sleep(50); // let the client notice the reset
            const calls = [
              () => store.get(key),
              () => store.incrWithTtl(`${key}:n`, 1000),
              () => store.getDel(key),
              () => store.setIfAbsent(`${key}:lock`, 't', 1000),
              () => store.publish('c', 'm'),
              () => store.subscribe('c', () => {}),
              () => store.ping(),
            ];
            for (const call of calls) {
              const { error, ms } = await timed(call);
              expect(error).toBeInstanceOf(StoreUnavailableError);
              expect(ms).toBeLessThan(200);
            }
            await proxy.start(); // same port
            await eventually(async () => expect(await store.get(key)).toBe('kept'));
          } finally {
            await store.close();
          }
        });

        it('a command in flight when the connection dies is rejected, not replayed', async () => {
          const store = await createRedisStore(proxy.url(redisUrl), { ...quiet, maxReconnectDelayMs: 100 });
          try {
            const key = `it:inflight:${randomUUID()}`;
            proxy.blackhole();
            const inflight = timed(() => store.incrWithTtl(key, 30_000));
            await sleep(100);
            // Redis is back before the client even reconnects: a retrying client would now
            // resend the INCR (and could double-count); ours must reject it instead.
            await proxy.cut();
            await proxy.start();
            const { error, ms } = await inflight;
            expect(error).toBeInstanceOf(StoreUnavailableError);
            expect(ms).toBeLessThan(1000);
            await eventually(() => store.ping());
            await sleep(200);
            expect(await admin.get(key)).toBeNull(); // the INCR never reached Redis and was not resent
          } finally {
            await store.close();
          }
        });

        it('a black-holed connection rejects after commandTimeoutMs instead of hanging', async () => {
          const store = await createRedisStore(proxy.url(redisUrl), { ...quiet, commandTimeoutMs: 300 });
          try {
            proxy.blackhole();
            const { error, ms } = await timed(() => store.get('anything'));
            expect(error).toBeInstanceOf(StoreUnavailableError);
            expect((error as Error).message).toMatch(/timed out/i);
            expect(ms).toBeGreaterThanOrEqual(250);
            expect(ms).toBeLessThan(1500);
          } finally {
            await store.close();
            await proxy.cut();
            await proxy.start();
          }
        });
      });
    });
  });
}
