/**
 * The stores the credential tests run against: the in-process store always, and Redis when
 * REDIS_URL is set (skipped, visibly, otherwise: without it `createStore` would just give the
 * memory store again). Each `open()` is a separate client, as a separate service instance would
 * have, namespaced per call so runs never see each other's keys in a shared Redis.
 */
import { randomUUID } from 'node:crypto';
import { createMemoryStore, createStore, prefixed, type Store } from '@kfrm/store';

export interface StoreTarget {
  name: string;
  /** Why the target is skipped, when it is. */
  skip?: string;
  /** A fresh, empty store view. Returns the view and a way to close everything it opened. */
  open(): Promise<OpenedStore>;
}

export interface OpenedStore {
  store: Store;
  /** Another client on the same data (a second instance); for memory, the same store. */
  openPeer(): Promise<Store>;
  close(): Promise<void>;
}

const memoryTarget: StoreTarget = {
  name: 'memory store',
  async open() {
    const store = createMemoryStore();
    return { store, openPeer: async () => store, close: () => store.close() };
  },
};

const redisUrl = process.env.REDIS_URL?.trim();

const redisTarget: StoreTarget = {
  name: 'redis store (REDIS_URL)',
  ...(redisUrl ? {} : { skip: 'REDIS_URL is not set' }),
  async open() {
    const namespace = `test:credentials:${randomUUID()}:`;
    const clients: Store[] = [];
    const openPeer = async (): Promise<Store> => {
      const client = await createStore({ redisUrl });
      clients.push(client);
      return prefixed(client, namespace);
    };
    const store = await openPeer();
    return { store, openPeer, close: async () => void (await Promise.all(clients.map((c) => c.close()))) };
  },
};

export const storeTargets: readonly StoreTarget[] = [memoryTarget, redisTarget];

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
