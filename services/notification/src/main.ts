// Composition root for running the notification service alone (see README for its variables).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { notificationModule } from './notification.module';

const running = await startServices([notificationModule], { name: 'notification' });
onShutdownSignal(running.logger, running.stop);
