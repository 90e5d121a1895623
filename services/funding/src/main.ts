// Composition root for running the funding service alone (see README for its variables).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { fundingModule } from './funding.module';

const running = await startServices([fundingModule], { name: 'funding' });
onShutdownSignal(running.logger, running.stop);
