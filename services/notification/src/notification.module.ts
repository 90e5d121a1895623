import type { ServiceModule } from '@kfrm/runtime';
import { defineService } from '@kfrm/server-kit';
import { NotificationServiceService } from '@kfrm/proto/gen/kfrm/api/notification/notification';

export const notificationModule: ServiceModule = {
  name: 'notification',
  create() {
    // The event stream arrives with the money issue; until then UNIMPLEMENTED.
    return { mobile: [defineService(NotificationServiceService, {}, { subscribeNotification: { access: 'session' } })] };
  },
};
