export * from './runtime-config';
export * from './service-module';
export * from './start-services';
export * from './internal-clients';
