import type { ServiceModule } from '@kfrm/runtime';
import { defineService } from '@kfrm/server-kit';
import { AccountServiceService } from '@kfrm/proto/gen/kfrm/api/account/account';

const session = { access: 'session' } as const;

export const accountModule: ServiceModule = {
  name: 'account',
  create() {
    // The ledger arrives with the money issue; until then UNIMPLEMENTED.
    return {
      mobile: [defineService(AccountServiceService, {}, { listTransactions: session, listAccounts: session, getAccount: session })],
    };
  },
};
