// Composition root for running the auth service alone (see README for its variables).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { authModule } from './auth.module';

const running = await startServices([authModule], { name: 'auth' });
onShutdownSignal(running.logger, running.stop);
