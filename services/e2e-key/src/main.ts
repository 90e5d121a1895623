// Composition root for running the e2e-key service alone (see README for its variables).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { e2eKeyModule } from './e2e-key.module';

const running = await startServices([e2eKeyModule], { name: 'e2e-key' });
onShutdownSignal(running.logger, running.stop);
