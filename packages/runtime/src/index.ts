export * from './runtime-config';
export * from './service-module';
export * from './start-services';
export * from './internal-clients';
export * from './in-process-calls';
export * from './internal-calls';
export * from './process-secrets';
export * from './run-service';
