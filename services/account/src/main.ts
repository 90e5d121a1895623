// Composition root for running the account service alone (see README for its variables).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { accountModule } from './account.module';

const running = await startServices([accountModule], { name: 'account' });
onShutdownSignal(running.logger, running.stop);
