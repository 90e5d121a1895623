export { notificationModule } from './notification.module';
