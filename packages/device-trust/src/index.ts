export * from './device-ca';
export * from './device-identity';
export * from './device-verifier';
export * from './revocation';
export * from './revocation-facts';
