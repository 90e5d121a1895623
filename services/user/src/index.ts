export { createUserModule, userModule, USER_SCHEMA, type UserModuleOptions } from './user.module';
export { createAccounts, type Accounts, type RegisterUserInput, type RegisteredUser, type UpdateUserStatusInput } from './accounts';
export { createSessions, type Sessions, type IssuedSession } from './sessions';
export { createProcesses, stepFor, type Processes } from './processes';
export {
  evaluateCondition,
  parseCondition,
  parseRequiredAuthentications,
  parseTransactionContext,
  selectPolicy,
  MAX_CONTEXT_BYTES,
} from './policy';
export type { Condition, FactorType, FallbackType, RequiredAuthentication } from './policy';
export { isPlausibleResidentId, residentIdBirthDate } from './resident-id';
export { isAllowedTransition } from './user-status';
export { DEFAULT_TTLS, UpstreamUnavailableError, type DeviceRevoker, type SigningCertificateSource, type UserDomainDeps } from './deps';
export type { ProcessRecord, ResolvedSession, SessionRecord, UserRecord } from './user.model';
