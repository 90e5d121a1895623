import type { ServiceModule } from '@kfrm/runtime';
import { defineService } from '@kfrm/server-kit';
import { DeviceServiceService } from '@kfrm/proto/gen/kfrm/api/device/device';

export const deviceModule: ServiceModule = {
  name: 'device',
  create() {
    // Certificate issuance arrives with the device-trust issue; until then UNIMPLEMENTED.
    // Public: a phone calls it to get its first certificate.
    return { mobile: [defineService(DeviceServiceService, {}, { createDevice: { access: 'public' } })] };
  },
};
