export { authModule, createAuthModule, AUTH_SCHEMA, type AuthModuleOptions } from './auth.module';
export { createSandboxIdentityVerifier, SANDBOX_REJECTED_HINT, type IdentityVerifier } from './identity/identity-verifier';
export { biometricChallenge } from './identity/biometric-key';
