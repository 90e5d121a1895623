export * from './demo';
export * from './options';
export * from './reporter';
export * from './grpc-errors';
