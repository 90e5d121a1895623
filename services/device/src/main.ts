// Composition root for running the device service alone (see README for its variables).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { deviceModule } from './device.module';

const running = await startServices([deviceModule], { name: 'device' });
onShutdownSignal(running.logger, running.stop);
