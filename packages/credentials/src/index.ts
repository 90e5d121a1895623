export * from './pin-rules';
export * from './pattern-rules';
export * from './secret-hasher';
export * from './attempt-limiter';
export * from './rate-limit';
export * from './concurrency-limit';
export * from './available-cores';
