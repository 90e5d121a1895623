export * from './config-error';
export * from './read-config';
