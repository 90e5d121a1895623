import type { ServiceModule } from '@kfrm/runtime';
import { defineService } from '@kfrm/server-kit';
import { KeyServiceService } from '@kfrm/proto/gen/kfrm/api/key/key';
import { E2eTestServiceService } from '@kfrm/proto/gen/kfrm/api/e2e/e2e_test';

export const e2eKeyModule: ServiceModule = {
  name: 'e2e-key',
  create() {
    // Key sessions arrive with the device-trust issue; until then UNIMPLEMENTED.
    return {
      mobile: [
        // Keys are fetched before the device has a certificate.
        defineService(KeyServiceService, {}, { getKey: { access: 'public' }, listKeys: { access: 'public' } }),
        // DecryptText turns a captured ciphertext of a live session into plaintext, so it is
        // never public: device certificate at least.
        defineService(E2eTestServiceService, {}, { encryptText: { access: 'device' }, decryptText: { access: 'device' } }),
      ],
    };
  },
};
