import type { ServiceModule } from '@kfrm/runtime';
import { defineService } from '@kfrm/server-kit';
import { TransferServiceService } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';

const session = { access: 'session' } as const;

export const transferModule: ServiceModule = {
  name: 'transfer',
  create() {
    // Transfers arrive with the money issue; until then UNIMPLEMENTED.
    return {
      mobile: [
        defineService(TransferServiceService, {}, {
          getSourceAccountInfo: session,
          listLatestTargets: session,
          listTargetInstitutions: session,
          getTargetAccountInfo: session,
          getPreCheck: session,
          execute: session,
        }),
      ],
    };
  },
};
