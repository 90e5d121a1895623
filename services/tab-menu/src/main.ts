// Composition root for running the tab-menu service alone (see README for its variables).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { tabMenuModule } from './tab-menu.module';

const running = await startServices([tabMenuModule], { name: 'tab-menu' });
onShutdownSignal(running.logger, running.stop);
