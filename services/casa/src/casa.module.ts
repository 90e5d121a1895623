import type { Env } from '@kfrm/config';
import { createSecretHasher } from '@kfrm/credentials';
import type { ServiceModule } from '@kfrm/runtime';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import { createCasa } from './casa';
import { loadCasaPepper, readCasaConfig } from './casa.config';
import { casaHandlers } from './casa.handlers';
import { CASA_SCHEMA, type CasaDatabase } from './casa.table';
import { migrations } from './migrations';
import { grpcLedgerAccounts, grpcUserDirectory } from './upstream';

export { CASA_SCHEMA } from './casa.table';

export interface CasaModuleOptions {
  /** Where KFRM_CASA_* are read (process.env by default). */
  env?: Env;
  now?: () => Date;
  /** Tests shorten the claim of a running opening (see CasaDeps.claimMs). */
  claimMs?: number;
}

/**
 * CASA opening on the mobile listener (session access for every method). The user's CIF/KYC
 * state comes from the user service's FindByUserId; the account is created by the ledger's
 * internal CreateAccount.
 */
export function createCasaModule(options: CasaModuleOptions = {}): ServiceModule {
  return {
    name: 'casa',
    // casa.config.ts falls back to the auth pepper when a deployment predates the casa pepper
    // (README); a split deployment gives casa its own and nothing of auth's.
    secrets: [
      {
        env: 'KFRM_CASA_PEPPER_FILE',
        form: 'file',
        what: 'pepper of account-password hashes',
        unless: { env: 'KFRM_AUTH_PEPPER_FILE', isOn: true },
      },
      {
        env: 'KFRM_AUTH_PEPPER_FILE',
        form: 'file',
        what: 'auth pepper, the fallback for a deployment without a casa pepper',
        optional: true,
        when: { env: 'KFRM_CASA_PEPPER_FILE', is: '' },
      },
    ],
    mobilePackages: ['kfrm.api.casa'],
    schema: CASA_SCHEMA,
    migrations,
    async create({ db, logger, config, internalClients, metrics }) {
      const casaConfig = readCasaConfig(options.env);
      const pepper = await loadCasaPepper(casaConfig, config);
      if (pepper.source === 'KFRM_AUTH_PEPPER_FILE')
        logger.warn('KFRM_CASA_PEPPER_FILE is not set: the casa pepper is derived from the auth pepper file');
      const hasher = createSecretHasher({ pepper: pepper.key });
      metrics.observeSecretHashing(hasher.hashing);
      const casa = createCasa({
        db: db.kysely<CasaDatabase>(CASA_SCHEMA),
        users: grpcUserDirectory(() => internalClients.get(UserServiceClient)),
        ledger: grpcLedgerAccounts(() => internalClients.get(LedgerServiceClient)),
        hasher,
        logger,
        limit: { perTransactionKrw: BigInt(casaConfig.limitPerTransactionKrw), perDayKrw: BigInt(casaConfig.limitPerDayKrw) },
        ...(options.claimMs !== undefined ? { claimMs: options.claimMs } : {}),
        ...(options.now ? { now: options.now } : {}),
      });
      return { mobile: [casaHandlers(casa)] };
    },
  };
}

export const casaModule: ServiceModule = createCasaModule();
