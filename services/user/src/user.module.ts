import type { ServiceModule } from '@kfrm/runtime';
import { defineService } from '@kfrm/server-kit';
import { UserServiceService } from '@kfrm/proto/gen/kfrm/api/user/user';

const internal = { access: 'internal' } as const;

export const userModule: ServiceModule = {
  name: 'user',
  create() {
    // Users and authentication processes arrive with the identity issue; until then UNIMPLEMENTED.
    return {
      internal: [
        defineService(UserServiceService, {}, {
          findBySessionToken: internal,
          findByCustomerId: internal,
          findByUserId: internal,
          createProcess: internal,
          getProcess: internal,
        }),
      ],
    };
  },
};
