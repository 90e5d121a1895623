import { openKeySessions, DEFAULT_SESSION_TTL_MS } from '@kfrm/e2e-crypto';
import type { ServiceModule } from '@kfrm/runtime';
import { e2eTestHandlers, keyServiceHandlers } from './e2e-key.handlers';

export interface E2eKeyModuleOptions {
  /** Life of a key session (default 10 minutes). */
  sessionTtlMs?: number;
}

/** No schema: key sessions live only in the store, sealed under the key-encryption key, with a TTL. */
export function createE2eKeyModule(options: E2eKeyModuleOptions = {}): ServiceModule {
  return {
    name: 'e2e-key',
    secrets: [{ env: 'KFRM_E2E_KEK_FILE', form: 'file', what: 'E2E key-encryption key (seals key sessions in the store)' }],
    mobilePackages: ['kfrm.api.key', 'kfrm.api.e2e'],
    async create({ store, config }) {
      // Reads KFRM_E2E_KEK_FILE, or creates ${dataDir}/keys/e2e-kek once in the embedded default.
      const sessions = await openKeySessions(store, config, { ttlMs: options.sessionTtlMs ?? DEFAULT_SESSION_TTL_MS });
      return { mobile: [keyServiceHandlers(sessions), e2eTestHandlers(sessions, { enabled: config.e2eTestService })] };
    },
  };
}

export const e2eKeyModule: ServiceModule = createE2eKeyModule();
