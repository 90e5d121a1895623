import type { Env } from '@kfrm/config';
import type { ServiceModule } from '@kfrm/runtime';
import { UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import { createFunding } from './funding';
import { createFundingAdapters, readFundingConfig, type FundingAdapters } from './funding.config';
import { fundingHandlers } from './funding.handlers';
import { FUNDING_SCHEMA, type FundingDatabase } from './funding.table';
import { migrations } from './migrations';
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
 * The funding service: linked bank accounts (Konaplate holder verification and registered
 * accounts, kakaoCert CMS consent) on the mobile listener, session access for every method.
 * The user's name, phone and birth date come from the user service's internal FindByUserId.
 */
export function createFundingModule(options: FundingModuleOptions = {}): ServiceModule {
  return {
    name: 'funding',
    schema: FUNDING_SCHEMA,
    migrations,
    async create({ db, logger, config, internalClients, metrics }) {
      const adapters = await createFundingAdapters(readFundingConfig(options.env), config.mode, logger, {
        konaplate: metrics.externalCallObserver('konaplate'),
        kakaocert: metrics.externalCallObserver('kakaocert'),
      });
      options.onAdapters?.(adapters);
      const funding = createFunding({
        db: db.kysely<FundingDatabase>(FUNDING_SCHEMA),
        konaplate: adapters.konaplate,
        consents: adapters.consents,
        users: grpcUserDirectory(() => internalClients.get(UserServiceClient)),
        logger,
        now: options.now,
      });
      return {
        mobile: [fundingHandlers(funding)],
        close: adapters.close,
      };
    },
  };
}

export const fundingModule: ServiceModule = createFundingModule();
