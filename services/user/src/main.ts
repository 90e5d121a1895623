// Composition root for running the user service alone (see README for its variables).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { userModule } from './user.module';

const running = await startServices([userModule], { name: 'user' });
onShutdownSignal(running.logger, running.stop);
