import { createMemoryStore, type MemoryStoreOptions } from './memory-store';
import { createRedisStore, type RedisStoreOptions } from './redis-store';
import type { Store } from './store';

export { StoreUnavailableError, isStoreUnavailableError } from './errors';
export { prefixed, type MessageHandler, type SetOptions, type Store, type Unsubscribe } from './store';
export { MemoryStore, createMemoryStore, type MemoryStoreOptions } from './memory-store';
export { RedisStore, createRedisStore, redactRedisUrl, type RedisStoreOptions } from './redis-store';
export { instrumentStore, type StoreObserver, type StoreOperation, type StoreOutcome } from './instrumented-store';

export interface StoreConfig {
  /**
   * `redis://` or `rediss://` URL. Given: the shared Redis store (required when more than one
   * instance runs, or counters and challenges would be per instance). Absent or empty: the
   * in-process store of the embedded single-process mode.
   */
  redisUrl?: string;
}

export interface CreateStoreOptions {
  redis?: RedisStoreOptions;
  memory?: MemoryStoreOptions;
}

/**
 * The store for this process: Redis when `config.redisUrl` is set (resolves once connected,
 * rejects with StoreUnavailableError when Redis is unreachable), in-process memory otherwise.
 * An empty string counts as unset, as an empty environment variable usually means "not set".
 */
export async function createStore(config: StoreConfig, options: CreateStoreOptions = {}): Promise<Store> {
  const url = config.redisUrl?.trim();
  if (url) return createRedisStore(url, options.redis);
  return createMemoryStore(options.memory);
}
