import type { ServiceModule } from '@kfrm/runtime';
import { defineService } from '@kfrm/server-kit';
import { CasaOpeningServiceService } from '@kfrm/proto/gen/kfrm/api/casa/casa';

const session = { access: 'session' } as const;

export const casaModule: ServiceModule = {
  name: 'casa',
  create() {
    // Account opening arrives with the money issue; until then UNIMPLEMENTED.
    return {
      mobile: [
        defineService(CasaOpeningServiceService, {}, { initiateOpening: session, listTerms: session, agreeTerms: session, completeOpening: session }),
      ],
    };
  },
};
