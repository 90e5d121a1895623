export * from './context';
export * from './grpc-server';
export * from './http-endpoint';
export * from './metrics';
export * from './tracing';
