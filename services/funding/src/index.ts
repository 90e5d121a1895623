export { createFundingModule, fundingModule, FUNDING_SCHEMA, type FundingModuleOptions } from './funding.module';
export { createFunding, type Funding, type FundingDeps } from './funding';
export {
  readFundingConfig,
  createFundingAdapters,
  type FundingAdapterOptions,
  type FundingAdapters,
  type FundingConfig,
} from './funding.config';
export { birthDateFromResidentId, grpcUserDirectory, type UserDirectory, type UserRecord } from './user-directory';
