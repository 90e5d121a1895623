export * from './app-client';
export * from './device-identity';
export * from './unary';
export * from './identity-flows';
export * from './credential-flows';
export * from './transfer-flows';
export * from './funding-flows';
