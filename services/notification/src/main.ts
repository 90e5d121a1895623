// Composition root for running the notification service alone (see README for its variables).
import { runService } from '@kfrm/runtime';
import { notificationModule } from './notification.module';

await runService([notificationModule], { name: 'notification' });
