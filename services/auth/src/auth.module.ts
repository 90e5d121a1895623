import type { ServiceModule } from '@kfrm/runtime';
import { defineService } from '@kfrm/server-kit';
import {
  BiometricServiceService,
  DeviceChangeServiceService,
  LoginServiceService,
  RegistrationServiceService,
} from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { AuthenticationServiceService } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { appVersionHandlers } from './app-version/app-version.handlers';
import type { AppVersionTable } from './app-version/app-version.table';
import { migrations } from './migrations';

export const AUTH_SCHEMA = 'auth';

export interface AuthDatabase {
  app_versions: AppVersionTable;
}

// Registration and login run on a device certificate plus the user token in the request (there
// is no session yet); biometric (de)activation and the generic authentications need a session.
const device = { access: 'device' } as const;
const session = { access: 'session' } as const;

export const authModule: ServiceModule = {
  name: 'auth',
  schema: AUTH_SCHEMA,
  migrations,
  create({ db }) {
    const authDb = db.kysely<AuthDatabase>(AUTH_SCHEMA);
    return {
      mobile: [
        appVersionHandlers(authDb),
        // Handlers arrive with the identity issue; until then these answer UNIMPLEMENTED.
        defineService(RegistrationServiceService, {}, {
          createUser: device,
          listTerms: device,
          agreeTerms: device,
          registerPin: device,
          confirmPin: device,
          registerPattern: device,
          confirmPattern: device,
          registerBiometric: device,
          issueSigningCertificate: device,
          verifySigningCertificate: device,
          submitCustomerInfo: device,
          registerKyc: device,
        }),
        defineService(LoginServiceService, {}, { prepareLogin: device, login: device, refreshSession: device }),
        defineService(DeviceChangeServiceService, {}, { prepareDeviceChange: device, changeDevice: device }),
        defineService(BiometricServiceService, {}, {
          prepareActivateBiometric: session,
          activateBiometric: session,
          prepareDeactivateBiometric: session,
          deactivateBiometric: session,
        }),
        defineService(AuthenticationServiceService, {}, {
          authenticatePin: session,
          authenticatePattern: session,
          authenticateBiometric: session,
          authenticatePinForLogin: device,
          authenticatePatternForLogin: device,
          authenticateBiometricForLogin: device,
        }),
      ],
    };
  },
};
