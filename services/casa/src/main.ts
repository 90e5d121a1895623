// Composition root for running the casa service alone (see README for its variables).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { casaModule } from './casa.module';

const running = await startServices([casaModule], { name: 'casa' });
onShutdownSignal(running.logger, running.stop);
