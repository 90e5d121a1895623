export {
  createNotificationModule,
  createNotificationService,
  notificationModule,
  readNotificationConfig,
  NOTIFICATION_SCHEMA,
  NOTIFICATION_STORE_PREFIX,
} from './notification.module';
export { LAST_EVENT_ID_HEADER } from './notification.handlers';
export { WAKE_CHANNEL } from './notification-event';
