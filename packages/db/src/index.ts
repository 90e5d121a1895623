export { openDatabase, assertSchemaName } from './database';
export type { DatabaseHandle, DatabaseLogger, OpenDatabaseOptions } from './database';
export { migrateSchema, migrateSchemas, MigrationError } from './migrations';
export type { Migration, MigrateSchemaOptions, MigrateSchemaResult } from './migrations';
export {
  SQLSTATE,
  TransactionConflictError,
  DatabaseUnavailableError,
  asDatabaseUnavailable,
  isDatabaseUnavailable,
  findDatabaseError,
  isForeignKeyViolation,
  isSerializationFailure,
  isUniqueViolation,
  pgErrorCode,
} from './errors';
export { withSerializableRetry } from './transaction';
export type { SerializableRetryOptions } from './transaction';
export { PGliteDialect, PG_COMPATIBLE_PARSERS, AsyncMutex } from './pglite-dialect';
export type { PGliteDialectConfig, PGliteLike } from './pglite-dialect';
export { QueryTemplate } from './query-template';
export { isPreparedStatementSql } from './prepared-statements';
export type { TemplateParam, TemplateQuery } from './query-template';
export { answerEach, batchedRead } from './read-batcher';
export type { ReadBatcherOptions } from './read-batcher';
export { anyOfKeys, hiddenArray } from './batch-arrays';
export type { KeyArrayType } from './batch-arrays';
export { StatementBatcher } from './statement-batcher';
export type { StatementBatcherOptions, StatementBatcherRules } from './statement-batcher';
export { batchedWrite, failedOnItsRows } from './write-batcher';
export type { BatchedWriteStatements, WriteBatcherOptions } from './write-batcher';
