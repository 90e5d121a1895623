export * from './crypto-provider';
export * from './pem';
export * from './dev-certificates';
export * from './verify-certificate';
export * from './signing';
export * from './internal-pki';
