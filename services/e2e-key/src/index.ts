export { createE2eKeyModule, e2eKeyModule, type E2eKeyModuleOptions } from './e2e-key.module';
