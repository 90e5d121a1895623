export * from './codes';
export * from './domain-error';
