export { accountModule, createAccountModule, LEDGER_SCHEMA } from './account.module';
export type { AccountModuleOptions } from './account.module';
