import { int, readConfig, type Env } from '@kfrm/config';
import { createAttemptLimiter, createSecretHasher } from '@kfrm/credentials';
import { openKeySessions } from '@kfrm/e2e-crypto';
import type { ServiceModule } from '@kfrm/runtime';
import { prefixed } from '@kfrm/store';
import { appVersionHandlers } from './app-version/app-version.handlers';
import type { AppVersionTable } from './app-version/app-version.table';
import { createAuthentication } from './identity/authentication';
import { createBiometric } from './identity/biometric';
import { createCredentialChange } from './identity/credential-change';
import { credentialChangeHandlers, sessionManagementHandlers, signingCertificateHandlers } from './identity/credential.handlers';
import { createDeviceChange } from './identity/device-change';
import { DEFAULT_IDENTITY_SETTINGS, type IdentityDeps, type IdentitySettings } from './identity/identity-deps';
import { SigningCertificateMemo } from './identity/signing-certificate-memo';
import {
  authenticationHandlers,
  biometricHandlers,
  credentialHandlers,
  deviceChangeHandlers,
  loginHandlers,
  registrationHandlers,
} from './identity/identity.handlers';
import type { IdentityDatabase } from './identity/identity.table';
import { createSandboxIdentityVerifier, type IdentityVerifier } from './identity/identity-verifier';
import { createLogin } from './identity/login';
import { createPinReset } from './identity/pin-reset';
import { createRegistration } from './identity/registration';
import { createSessionManagement } from './identity/session-management';
import { createSigningReissue } from './identity/signing-reissue';
import { loadAuthSigningCa, loadPepper } from './identity/secrets';
import { createUnlock } from './identity/unlock';
import { createUserDirectory, type UserDirectory } from './identity/user-directory';
import { migrations } from './migrations';

export const AUTH_SCHEMA = 'auth';

const OFF_DEVICE_TTLS = { counterTtlMs: 24 * 60 * 60_000, lockTtlMs: 24 * 60 * 60_000 };

export interface AuthDatabase extends IdentityDatabase {
  app_versions: AppVersionTable;
}

export interface AuthModuleOptions {
  /** Identity provider check; default: the documented sandbox (identity-verifier.ts). */
  identityVerifier?: IdentityVerifier;
  /** Overrides of the settings (tests); the rest come from the environment. */
  settings?: Partial<IdentitySettings>;
  /** Where the users/processes/sessions live; default: the user service's internal API. */
  userDirectory?: UserDirectory;
  env?: Env;
  now?: () => Date;
}

function readIdentitySettings(env: Env | undefined): IdentitySettings {
  const d = DEFAULT_IDENTITY_SETTINGS;
  return {
    ...d,
    ...readConfig(
      {
        registrationTtlMs: int('KFRM_AUTH_REGISTRATION_TTL_MS', { default: d.registrationTtlMs, min: 60_000, max: 7 * 24 * 60 * 60_000 }),
        maxSecretAttempts: int('KFRM_AUTH_MAX_PIN_ATTEMPTS', { default: d.maxSecretAttempts, min: 3, max: 10 }),
        signingValidityDays: int('KFRM_SIGNING_CERT_VALIDITY_DAYS', { default: d.signingValidityDays, min: 1, max: 1825 }),
        // A device making many transfers in a row (a load or fault test, a shop's till) needs more.
        secretChecksPerDeviceWindow: int('KFRM_AUTH_SECRET_CHECKS_PER_DEVICE_WINDOW', {
          default: d.secretChecksPerDeviceWindow,
          min: 5,
          max: 1_000_000,
        }),
      },
      env,
    ),
  };
}

export function createAuthModule(options: AuthModuleOptions = {}): ServiceModule {
  return {
    name: 'auth',
    secrets: [
      { env: 'KFRM_E2E_KEK_FILE', form: 'file', what: 'E2E key-encryption key (opens the PIN/pattern key sessions)' },
      { env: 'KFRM_AUTH_PEPPER_FILE', form: 'file', what: 'pepper of PIN/pattern hashes' },
      { env: 'KFRM_SIGNING_CA_CERT_FILE', form: 'file', what: 'certificate of the CA issuing users’ signing certificates' },
      { env: 'KFRM_SIGNING_CA_KEY_FILE', form: 'file', what: 'private key of the signing CA' },
    ],
    mobilePackages: ['kfrm.api.appversion', 'kfrm.api.auth', 'kfrm.api.authentication'],
    schema: AUTH_SCHEMA,
    migrations,
    async create({ db, store, logger, config, internalClients, metrics }) {
      const identityDb = db.kysely<IdentityDatabase>(AUTH_SCHEMA);
      const settings = { ...readIdentitySettings(options.env), ...options.settings };
      // Keys are read once, here: the pepper never reaches the database or a log.
      const [pepper, signingCa, e2e] = await Promise.all([loadPepper(config), loadAuthSigningCa(config), openKeySessions(store, config)]);
      const authStore = prefixed(store, 'auth:');
      const hasher = createSecretHasher({ pepper });
      metrics.observeSecretHashing(hasher.hashing);
      const deps: IdentityDeps = {
        db: identityDb,
        store: authStore,
        users: options.userDirectory ?? createUserDirectory(internalClients),
        e2e,
        hasher,
        limiters: {
          pin: createAttemptLimiter(authStore, { kind: 'pin', maxAttempts: settings.maxSecretAttempts }),
          pattern: createAttemptLimiter(authStore, { kind: 'pattern', maxAttempts: settings.maxSecretAttempts }),
        },
        // Locked for a day: the customer can wait it out or change phones at a branch; the
        // counter is never shared with the credential's own.
        offDeviceLimiters: {
          pin: createAttemptLimiter(authStore, { kind: 'pin-off-device', maxAttempts: settings.maxSecretAttempts, ...OFF_DEVICE_TTLS }),
          pattern: createAttemptLimiter(authStore, {
            kind: 'pattern-off-device',
            maxAttempts: settings.maxSecretAttempts,
            ...OFF_DEVICE_TTLS,
          }),
        },
        signingCa,
        signingCertificates: new SigningCertificateMemo(),
        verifier: options.identityVerifier ?? createSandboxIdentityVerifier(),
        logger,
        settings,
        now: options.now ?? (() => new Date()),
      };
      pepper.fill(0);
      const authentication = createAuthentication(deps);
      return {
        mobile: [
          appVersionHandlers(db.kysely<Pick<AuthDatabase, 'app_versions'>>(AUTH_SCHEMA)),
          registrationHandlers(createRegistration(deps)),
          loginHandlers(createLogin(deps)),
          deviceChangeHandlers(createDeviceChange(deps)),
          biometricHandlers(createBiometric(deps)),
          authenticationHandlers(authentication),
          signingCertificateHandlers(createSigningReissue(deps)),
          sessionManagementHandlers(createSessionManagement(deps)),
          credentialChangeHandlers(createCredentialChange(deps, authentication), createPinReset(deps)),
        ],
        internal: [credentialHandlers(deps, createUnlock(deps))],
      };
    },
  };
}

export const authModule: ServiceModule = createAuthModule();
