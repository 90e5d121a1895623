import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { describe, expect, it } from 'vitest';
import { openTestDatabase } from '@kfrm/db/test-database';
import { createCapturingDestination } from '@kfrm/logging';
import { createMemoryStore } from '@kfrm/store';
import { startServices } from './start-services';
import type { ServiceModule } from './service-module';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function canBind(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** grpc.health.v1 for the whole listener, over plaintext (the internal listener without mTLS files). */
async function healthOf(port: number): Promise<string> {
  const Health = grpc.makeClientConstructor(healthService, 'Health');
  const client = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as unknown as {
    check: (req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string }) => void) => void;
    close(): void;
  };
  try {
    return await new Promise<string>((resolve, reject) => client.check({ service: '' }, (e, r) => (e ? reject(e) : resolve(r.status))));
  } finally {
    client.close();
  }
}

/** A data directory, PGlite, an in-process store and free ports for one start. */
async function startOptions() {
  const dataDir = await mkdtemp(join(tmpdir(), 'kfrm-runtime-'));
  const database = await openTestDatabase({ backend: 'pglite' });
  const store = createMemoryStore();
  const [mobilePort, internalPort, metricsPort] = [await freePort(), await freePort(), await freePort()];
  const options = {
    name: 'runtime-test',
    env: {
      KFRM_DATA_DIR: dataDir,
      KFRM_MOBILE_LISTEN: `127.0.0.1:${mobilePort}`,
      KFRM_INTERNAL_LISTEN: `127.0.0.1:${internalPort}`,
      KFRM_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
    },
    db: database,
    store,
    logDestination: createCapturingDestination(),
  };
  return { dataDir, database, store, mobilePort, internalPort, options };
}

describe('startServices', () => {
  it('answers NOT_SERVING until the whole start is done, then SERVING', async () => {
    const { dataDir, database, store, internalPort, options } = await startOptions();
    let releaseStart!: () => void;
    let startReached!: () => void;
    const reached = new Promise<void>((resolve) => (startReached = resolve));
    // A module whose background work takes its time to start: the listeners are bound by then.
    const slow: ServiceModule = {
      name: 'slow',
      create: () => ({
        start: () =>
          new Promise<void>((resolve) => {
            releaseStart = resolve;
            startReached();
          }),
      }),
    };
    const starting = startServices([slow], options);
    try {
      // A start that fails before it gets there fails the test now, not at its timeout.
      await Promise.race([reached, starting]);
      expect(await healthOf(internalPort)).toBe('NOT_SERVING');
      releaseStart();
      const running = await starting;
      try {
        expect(await healthOf(internalPort)).toBe('SERVING');
      } finally {
        await running.stop();
      }
    } finally {
      await store.close();
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it('releases both listeners when a module fails to start its background work', async () => {
    const { dataDir, database, store, mobilePort, internalPort, options } = await startOptions();
    const failing: ServiceModule = {
      name: 'failing',
      create: () => ({
        start() {
          throw new Error('relay could not start');
        },
      }),
    };
    try {
      await expect(startServices([failing], options)).rejects.toThrow('relay could not start');
      expect(await canBind(mobilePort)).toBe(true);
      expect(await canBind(internalPort)).toBe(true);
    } finally {
      await store.close();
      await database.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
