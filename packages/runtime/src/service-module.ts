import type { Migration } from 'kysely';
import type { AuditLog } from '@kfrm/audit';
import type { DatabaseHandle } from '@kfrm/db';
import type { DeviceCa } from '@kfrm/device-trust';
import type { Logger } from '@kfrm/logging';
import type { KfrmMetrics } from '@kfrm/observability';
import type { ServiceRegistration } from '@kfrm/server-kit';
import type { Store } from '@kfrm/store';
import type { InternalClients } from './internal-clients';
import type { SecretDeclaration } from './process-secrets';
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
  /**
   * The audit log (@kfrm/audit): methods with an `audit` policy are recorded by the listener; a
   * service appends what is not one call's outcome (an approval executed later) and the auditor's
   * views read it.
   */
  audit: AuditLog;
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
  /**
   * The secrets (and the settings that go with them) this service reads in real mode, beyond
   * what every process reads (RUNTIME_SECRETS): checked at start, and what a deployment mounts
   * for this service and nothing more (`pnpm validate:deploy`).
   */
  secrets?: readonly SecretDeclaration[];
  /**
   * The proto packages whose services this module serves on the mobile listener (e.g.
   * kfrm.api.funding): the edge routes /<package>.* to it. Checked against what `create`
   * registers, so the routes cannot drift from the handlers.
   */
  mobilePackages?: readonly string[];
  create(deps: ServiceDeps): Promise<ServiceInstance> | ServiceInstance;
}
