import { int, readConfig, type Env } from '@kfrm/config';
import { openKeySessions, DEFAULT_SESSION_TTL_MS } from '@kfrm/e2e-crypto';
import type { ServiceModule } from '@kfrm/runtime';
import type { KeyRequestLimit } from './e2e-key';
import { e2eTestHandlers, keyServiceHandlers } from './e2e-key.handlers';

export interface E2eKeyModuleOptions {
  /** Life of a key session (default 10 minutes). */
  sessionTtlMs?: number;
  /** GetKey + ListKeys calls per client address per window; default KFRM_E2E_GET_KEY_LIMIT / _WINDOW_MS, else 60 per minute. */
  keyRequestLimit?: KeyRequestLimit;
  /** Where the defaults above are read (process.env by default). */
  env?: Env;
}

function readKeyRequestLimit(env: Env | undefined): KeyRequestLimit {
  return readConfig(
    {
      // The app asks for a key before each encrypted exchange (sessions live 10 minutes); 60 a
      // minute is far above one person's use and still bounds key generation per address.
      limit: int('KFRM_E2E_GET_KEY_LIMIT', { default: 60, min: 1, max: 1_000_000 }),
      windowMs: int('KFRM_E2E_GET_KEY_WINDOW_MS', { default: 60_000, min: 1_000, max: 24 * 60 * 60_000 }),
    },
    env,
  );
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
      const keyRequests = options.keyRequestLimit ?? readKeyRequestLimit(options.env);
      return {
        mobile: [keyServiceHandlers(sessions, { store, keyRequests }), e2eTestHandlers(sessions, { enabled: config.e2eTestService })],
      };
    },
  };
}

export const e2eKeyModule: ServiceModule = createE2eKeyModule();
