import type { Migration } from 'kysely';
import type { DatabaseHandle } from '@kfrm/db';
import type { DeviceCa } from '@kfrm/device-trust';
import type { Logger } from '@kfrm/logging';
import type { KfrmMetrics } from '@kfrm/observability';
import type { ServiceRegistration } from '@kfrm/server-kit';
import type { Store } from '@kfrm/store';
import type { InternalClients } from './internal-clients';
import type { RuntimeConfig } from './runtime-config';

/** What a service needs from the process it runs in. */
export interface ServiceDeps {
  db: DatabaseHandle;
  store: Store;
  logger: Logger;
  config: RuntimeConfig;
  /**
   * The device CA, loaded once per process: its certificate (checked, parsed) and the key file's
   * path. Only the device service reads the key (`loadDeviceCaSigner`), so other processes never
   * hold it in memory.
   */
  deviceCa: DeviceCa;
  /** Generated clients for other services' internal APIs (usable once the listeners are up). */
  internalClients: InternalClients;
  /** This process's metrics: services add their own series (streams held open, external calls). */
  metrics: KfrmMetrics;
}

/** A running service: what it serves on each listener, and what it must release at shutdown. */
export interface ServiceInstance {
  mobile?: ServiceRegistration[];
  internal?: ServiceRegistration[];
  /** Background work (relays, pollers) that may call other services: run once the listeners are up. */
  start?(): void | Promise<void>;
  close?(): Promise<void>;
}

/**
 * One service, as an entry point sees it. `create` is the service's own composition: it builds
 * repositories, use cases and handlers from the deps. The same module runs alone (the service's
 * main.ts) or with all the others in one process (packages/backend).
 */
export interface ServiceModule {
  name: string;
  /** The Postgres schema the service owns, and its migrations (run in key order). */
  schema?: string;
  migrations?: Record<string, Migration>;
  create(deps: ServiceDeps): Promise<ServiceInstance> | ServiceInstance;
}
