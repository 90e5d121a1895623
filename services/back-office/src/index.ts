export { backOfficeModule, createBackOfficeModule, type BackOfficeModuleOptions } from './back-office.module';
