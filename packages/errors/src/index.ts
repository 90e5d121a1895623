export * from './codes';
export * from './domain-error';
export * from './infrastructure-errors';
