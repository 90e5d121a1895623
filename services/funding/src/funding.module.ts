import type { ServiceModule } from '@kfrm/runtime';

export const fundingModule: ServiceModule = {
  name: 'funding',
  create() {
    // The funding contract (a new proto package) and its adapters arrive with the linked-accounts
    // issue; nothing is served until then.
    return {};
  },
};
