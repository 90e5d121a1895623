import type { ServiceModule } from '@kfrm/runtime';
import { accountModule } from '@kfrm/service-account';
import { authModule } from '@kfrm/service-auth';
import { backOfficeModule } from '@kfrm/service-back-office';
import { casaModule } from '@kfrm/service-casa';
import { deviceModule } from '@kfrm/service-device';
import { e2eKeyModule } from '@kfrm/service-e2e-key';
import { fundingModule } from '@kfrm/service-funding';
import { notificationModule } from '@kfrm/service-notification';
import { tabMenuModule } from '@kfrm/service-tab-menu';
import { transferModule } from '@kfrm/service-transfer';
import { userModule } from '@kfrm/service-user';

/** Every service, in the order their migrations run and their services start. */
export const serviceModules: ServiceModule[] = [
  userModule,
  deviceModule,
  e2eKeyModule,
  authModule,
  accountModule,
  casaModule,
  transferModule,
  notificationModule,
  tabMenuModule,
  fundingModule,
  // The operators' web console: its own HTTP listener, no gRPC method, no table.
  backOfficeModule,
];
