import { int, readConfig, str, type Env } from '@kfrm/config';
import type { ServiceModule } from '@kfrm/runtime';
import { createLedger } from './ledger';
import { accountHandlers, ledgerHandlers } from './ledger.handlers';
import { outboxCommitAnnouncer } from './outbox-commit-announcer';
import { LedgerPoster, type LedgerPosterOptions } from './ledger-poster';
import { LEDGER_SCHEMA, type LedgerDatabase } from './ledger.table';
import { migrations } from './migrations';

export { LEDGER_SCHEMA } from './ledger.table';

export interface AccountModuleOptions {
  /** Batching of postings; defaults from KFRM_LEDGER_* (see README). */
  poster?: LedgerPosterOptions;
  /** Where the defaults are read (process.env by default). */
  env?: Env;
}

function readAccountConfig(env: Env | undefined) {
  return readConfig(
    {
      maxBatchSize: int('KFRM_LEDGER_BATCH_MAX', { default: 32, min: 1, max: 1000 }),
      lingerMs: int('KFRM_LEDGER_BATCH_LINGER_MS', { default: 1, min: 0, max: 100 }),
      maxConcurrentBatches: int('KFRM_LEDGER_BATCH_CONCURRENCY', { default: 2, min: 1, max: 64 }),
      timeZone: str('KFRM_LEDGER_TIME_ZONE', { default: 'Asia/Seoul' }),
    },
    env,
  );
}

/**
 * The account service: the double-entry ledger (internal LedgerService) and the app's
 * AccountService over it. The LedgerPoster is the only writer of balances.
 */
export function createAccountModule(options: AccountModuleOptions = {}): ServiceModule {
  return {
    name: 'account',
    mobilePackages: ['kfrm.api.account'],
    schema: LEDGER_SCHEMA,
    migrations,
    create({ db, store, logger, config: runtime, metrics }) {
      const config = readAccountConfig(options.env);
      const kysely = db.kysely<LedgerDatabase>(LEDGER_SCHEMA);
      const poster = new LedgerPoster(kysely, {
        ...config,
        onOutboxCommitted: outboxCommitAnnouncer(store, logger),
        onBatch: metrics.ledgerBatchObserver,
        ...options.poster,
      });
      metrics.observeLedgerPoster(poster);
      // One clock and time zone for the poster's daily counter and the ledger's reading of it.
      const ledger = createLedger({
        db: kysely,
        poster,
        store,
        timeZone: options.poster?.timeZone ?? config.timeZone,
        ...(options.poster?.now ? { now: options.poster.now } : {}),
      });
      return {
        mobile: [accountHandlers(ledger)],
        internal: [ledgerHandlers(ledger, { approvalThresholdKrw: runtime.operatorApprovalThresholdKrw })],
        // Listeners drain first; then the batches still queued are committed before the pool closes.
        close: () => poster.close(),
      };
    },
  };
}

export const accountModule: ServiceModule = createAccountModule();
