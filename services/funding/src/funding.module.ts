import { join } from 'node:path';
import type { Env } from '@kfrm/config';
import type { SecretDeclaration, ServiceModule } from '@kfrm/runtime';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import { createFunding } from './funding';
import { createFundingAdapters, readFundingConfig, type FundingAdapters } from './funding.config';
import { fundingHandlers, fundingInternalHandlers } from './funding.handlers';
import { FUNDING_SCHEMA, type FundingDatabase } from './funding.table';
import { migrations } from './migrations';
import { grpcFundingLedger } from './ledger-port';
import { grpcUserDirectory } from './user-directory';

export { FUNDING_SCHEMA } from './funding.table';

export interface FundingModuleOptions {
  /** Where KONAPLATE_* / KAKAOCERT_* are read (process.env by default). */
  env?: Env;
  /** Receives the adapters once built (tests reach the embedded sandboxes through it). */
  onAdapters?: (adapters: FundingAdapters) => void;
  now?: () => Date;
}

/**
 * What the real providers need in real mode; with KFRM_FUNDING_SANDBOXES=true (a dev stack) the
 * in-process sandboxes stand in for both and none of it is needed. The settings are listed with
 * the secrets so that a start without them names everything missing at once.
 */
const WITHOUT_SANDBOXES = { unless: { env: 'KFRM_FUNDING_SANDBOXES', is: 'true' } } as const;
export const FUNDING_SECRETS: readonly SecretDeclaration[] = [
  { env: 'KONAPLATE_URL', form: 'setting', what: 'Konaplate API base URL', ...WITHOUT_SANDBOXES },
  { env: 'KONAPLATE_ASP_ID', form: 'setting', what: 'Konaplate ASP id', ...WITHOUT_SANDBOXES },
  { env: 'KONAPLATE_ACCESS_KEY', form: 'value', what: 'Konaplate access key', ...WITHOUT_SANDBOXES },
  { env: 'KONAPLATE_SECRET_KEY', form: 'value', what: 'Konaplate secret key (signs requests)', ...WITHOUT_SANDBOXES },
  // Message encryption is optional (all three variables or none: funding.config.ts checks that).
  {
    env: 'KONAPLATE_CLIENT_PRIVATE_KEY_FILE',
    form: 'file',
    what: 'Konaplate message-encryption private key',
    optional: true,
    ...WITHOUT_SANDBOXES,
  },
  { env: 'KAKAOCERT_URL', form: 'setting', what: 'kakaoCert API base URL', ...WITHOUT_SANDBOXES },
  { env: 'KAKAOCERT_AUTH_URL', form: 'setting', what: 'kakaoCert token URL', ...WITHOUT_SANDBOXES },
  { env: 'KAKAOCERT_LINK_ID', form: 'setting', what: 'kakaoCert link id', ...WITHOUT_SANDBOXES },
  { env: 'KAKAOCERT_SECRET_KEY', form: 'value', what: 'kakaoCert secret key', ...WITHOUT_SANDBOXES },
  { env: 'KAKAOCERT_CLIENT_CODE', form: 'setting', what: 'kakaoCert client code', ...WITHOUT_SANDBOXES },
  { env: 'KAKAOCERT_TRUST_ANCHOR_FILE', form: 'setting', what: 'CA certificate(s) of consent signers', ...WITHOUT_SANDBOXES },
];

/**
 * The funding service: linked bank accounts (Konaplate holder verification and registered
 * accounts, kakaoCert CMS consent) on the mobile listener, session access for every method.
 * The user's name, phone and birth date come from the user service's internal FindByUserId.
 */
export function createFundingModule(options: FundingModuleOptions = {}): ServiceModule {
  return {
    name: 'funding',
    secrets: FUNDING_SECRETS,
    mobilePackages: ['kfrm.api.funding'],
    schema: FUNDING_SCHEMA,
    migrations,
    async create({ db, logger, config, internalClients, metrics }) {
      const fundingConfig = readFundingConfig(options.env);
      const adapters = await createFundingAdapters(
        fundingConfig,
        config.mode,
        logger,
        { konaplate: metrics.externalCallObserver('konaplate'), kakaocert: metrics.externalCallObserver('kakaocert') },
        // The embedded default keeps its sandbox's RSA keys in the data directory, beside its dev
        // TLS certificates, instead of generating two RSA-2048 pairs at every start. Real mode
        // with KFRM_FUNDING_SANDBOXES (a dev stack) writes nothing there and generates them.
        config.mode === 'embedded' ? { sandboxKeyDir: join(config.dataDir, 'konaplate-sandbox') } : {},
      );
      options.onAdapters?.(adapters);
      const funding = createFunding({
        db: db.kysely<FundingDatabase>(FUNDING_SCHEMA),
        konaplate: adapters.konaplate,
        consents: adapters.consents,
        users: grpcUserDirectory(() => internalClients.get(UserServiceClient)),
        logger,
        now: options.now,
        ledger: grpcFundingLedger(() => internalClients.get(LedgerServiceClient)),
        topUpLimitPerDayMinor: fundingConfig.topUpLimitPerDayKrw === 0 ? null : BigInt(fundingConfig.topUpLimitPerDayKrw),
        onReconciliationMismatch: (kind) => metrics.fundingReconciliationMismatches.inc({ kind }),
      });
      // Resolves top-ups and withdrawals left pending (lost answers, outages, crashes); each row
      // is leased, so several instances share the work. A failed run is logged and retried.
      let running = false;
      const resolver = setInterval(() => {
        if (running) return;
        running = true;
        funding
          .resolvePendingMovements({ retryAfterMs: fundingConfig.resolveAfterMs, maxRows: 50 })
          .catch((err: unknown) => logger.error({ err }, 'resolving pending top-ups and withdrawals failed'))
          .finally(() => {
            running = false;
          });
      }, fundingConfig.resolveIntervalMs);
      resolver.unref();
      // Reconciles yesterday (Asia/Seoul) once: the day is leased, so one instance does it, and a
      // failed run (Konaplate unreachable) is tried again at the next tick.
      let reconciling = false;
      const reconciler =
        fundingConfig.reconcileIntervalMs === 0
          ? undefined
          : setInterval(() => {
              if (reconciling) return;
              reconciling = true;
              funding
                .reconcilePreviousDay(Math.max(fundingConfig.reconcileIntervalMs, 60_000))
                .catch((err: unknown) => logger.error({ err }, 'reconciling the previous day failed; tried again at the next tick'))
                .finally(() => {
                  reconciling = false;
                });
            }, fundingConfig.reconcileIntervalMs);
      reconciler?.unref();
      return {
        mobile: [fundingHandlers(funding)],
        internal: [fundingInternalHandlers(funding)],
        async close() {
          clearInterval(resolver);
          if (reconciler) clearInterval(reconciler);
          await adapters.close();
        },
      };
    },
  };
}

export const fundingModule: ServiceModule = createFundingModule();
