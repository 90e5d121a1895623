import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog } from '@kfrm/audit';
import { openDatabase } from '@kfrm/db';
import { loadDeviceCa } from '@kfrm/device-trust';
import { createLogger } from '@kfrm/logging';
import { createMetrics } from '@kfrm/observability';
import { ensureDevCertificates } from '@kfrm/pki';
import { createMemoryStore } from '@kfrm/store';
import { createInternalClients } from './internal-clients';
import { readRuntimeConfig } from './runtime-config';
import { migrateModules } from './start-services';
import type { ServiceModule } from './service-module';

export interface ModuleRegistrations {
  /** The module's name (its folder under services/, its process name). */
  module: string;
  /** Full gRPC service names it serves on the phone-facing listeners. */
  mobile: string[];
  /** Full gRPC service names it serves on the internal listener. */
  internal: string[];
  /**
   * Every unary method it serves on the phone-facing listeners (full path), and whether its
   * policy makes it idempotent by `idempotency-key` (docs/idempotency.md).
   */
  mobileUnaryMethods: { path: string; idempotent: boolean }[];
}

/**
 * What each module registers on each listener, found the way a process finds it: by building
 * the module (`create`, never `start`: no background work, no listener) on throwaway
 * dependencies (an in-memory, migrated database and store, dev certificates in a temp dir;
 * some modules tidy their tables as they are created). Routing
 * (the edge's nginx config, a split run's internal targets) is derived from this, not from a
 * hand-kept list.
 */
export async function describeModuleRegistrations(modules: ServiceModule[]): Promise<ModuleRegistrations[]> {
  const dataDir = await mkdtemp(join(tmpdir(), 'kfrm-registrations-'));
  const db = await openDatabase({});
  const store = createMemoryStore();
  const logger = createLogger({ service: 'registrations', level: 'silent' });
  const internalClients = createInternalClients({
    targets: {},
    defaultTarget: '127.0.0.1:9', // never dialled: nothing is started
    ownListener: () => ({ host: '127.0.0.1', port: 9 }),
  });
  try {
    const config = readRuntimeConfig({ KFRM_DATA_DIR: dataDir, LOG_LEVEL: 'silent' });
    const tls = await ensureDevCertificates(config.devTlsDir);
    const deviceCa = await loadDeviceCa({ certFile: tls.deviceCaCertFile, keyFile: tls.deviceCaKeyFile });
    await migrateModules(db, modules, logger);
    const found: ModuleRegistrations[] = [];
    for (const module of modules) {
      const instance = await module.create({
        db,
        store,
        logger,
        config,
        deviceCa,
        internalClients,
        metrics: createMetrics(),
        audit: new AuditLog(db),
      });
      found.push({
        module: module.name,
        mobile: (instance.mobile ?? []).map((r) => r.name),
        internal: (instance.internal ?? []).map((r) => r.name),
        mobileUnaryMethods: (instance.mobile ?? []).flatMap((r) =>
          Object.entries(r.definition)
            .filter(([, d]) => !d.requestStream && !d.responseStream)
            .map(([key, d]) => ({ path: d.path, idempotent: r.policies[key]?.idempotent === true })),
        ),
      });
      await instance.close?.();
    }
    return found;
  } finally {
    internalClients.close();
    await store.close();
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
