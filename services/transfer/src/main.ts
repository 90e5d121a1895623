// Composition root for running the transfer service alone (see README for its variables).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { transferModule } from './transfer.module';

const running = await startServices([transferModule], { name: 'transfer' });
onShutdownSignal(running.logger, running.stop);
