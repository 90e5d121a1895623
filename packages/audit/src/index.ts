export * from './audit-chain';
export * from './audit-event';
export * from './audit.repository';
export { auditMigrations } from './migrations';
export * from './audit-verify';
