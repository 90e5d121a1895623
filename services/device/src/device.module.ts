import { int, readConfig, type Env } from '@kfrm/config';
import { loadDeviceCaSigner } from '@kfrm/device-trust';
import type { ServiceModule } from '@kfrm/runtime';
import { createDeviceRegistry } from './device';
import { deviceHandlers, deviceRegistryHandlers } from './device.handlers';
import { DEVICE_SCHEMA, type DeviceDatabase } from './device.table';
import { migrations } from './migrations';

export { DEVICE_SCHEMA } from './device.table';

export interface DeviceModuleOptions {
  /** Validity of issued device certificates; default KFRM_DEVICE_CERT_VALIDITY_DAYS, else 365. */
  certificateValidityDays?: number;
  /** How often revocation marks are rewritten from Postgres; default KFRM_DEVICE_REVOCATION_RESYNC_MS, else 5 minutes. */
  revocationResyncMs?: number;
  /** CreateDevice calls per client address per window; default KFRM_DEVICE_CREATE_LIMIT / _WINDOW_MS, else 10 per 10 minutes. */
  createLimit?: { limit: number; windowMs: number };
  /** Where the defaults above are read (process.env by default). */
  env?: Env;
  /** Clock for issuance and revocation (tests). */
  now?: () => Date;
}

function readDeviceConfig(env: Env | undefined) {
  return readConfig(
    {
      certificateValidityDays: int('KFRM_DEVICE_CERT_VALIDITY_DAYS', { default: 365, min: 1, max: 825 }),
      revocationResyncMs: int('KFRM_DEVICE_REVOCATION_RESYNC_MS', { default: 5 * 60_000, min: 1_000, max: 24 * 60 * 60_000 }),
      // A phone enrols once per install; 10 in 10 minutes leaves room for retries and a few
      // phones behind one NAT while stopping a script from minting certificates.
      createLimit: int('KFRM_DEVICE_CREATE_LIMIT', { default: 10, min: 1, max: 1_000_000 }),
      createWindowMs: int('KFRM_DEVICE_CREATE_WINDOW_MS', { default: 10 * 60_000, min: 1_000, max: 24 * 60 * 60_000 }),
    },
    env,
  );
}

/**
 * The device service: issues device certificates (public CreateDevice on the mobile listener)
 * and revokes them (internal DeviceRegistryService). The device CA's key is loaded once, here.
 */
export function createDeviceModule(options: DeviceModuleOptions = {}): ServiceModule {
  return {
    name: 'device',
    secrets: [{ env: 'KFRM_DEVICE_CA_KEY_FILE', form: 'file', what: 'device CA private key (signs device certificates)' }],
    mobilePackages: ['kfrm.api.device'],
    schema: DEVICE_SCHEMA,
    migrations,
    async create({ db, store, logger, deviceCa }) {
      const config = readDeviceConfig(options.env);
      const signer = await loadDeviceCaSigner(deviceCa);
      const registry = createDeviceRegistry({
        db: db.kysely<DeviceDatabase>(DEVICE_SCHEMA),
        store,
        logger,
        signer,
        validityDays: options.certificateValidityDays ?? config.certificateValidityDays,
        createLimit: options.createLimit ?? { limit: config.createLimit, windowMs: config.createWindowMs },
        now: options.now,
      });
      // The store is a copy of Postgres' revocations and may have been flushed: write the marks
      // again before serving, and periodically while running. A failure at start stops start-up
      // (fail closed); a failed periodic run is logged and retried at the next tick.
      const marked = await registry.remarkRevokedDevices();
      logger.info({ marked }, 'revocation marks written');
      const resync = setInterval(() => {
        registry.remarkRevokedDevices().catch((err: unknown) => logger.error({ err }, 'revocation resync failed'));
      }, options.revocationResyncMs ?? config.revocationResyncMs);
      resync.unref();
      return {
        mobile: [deviceHandlers(registry)],
        internal: [deviceRegistryHandlers(registry)],
        async close() {
          clearInterval(resync);
        },
      };
    },
  };
}

export const deviceModule: ServiceModule = createDeviceModule();
