// Composition root of the embedded default: every service in one process (see README).
import { onShutdownSignal } from '@kfrm/server-kit';
import { startServices } from '@kfrm/runtime';
import { serviceModules } from './service-modules';

const running = await startServices(serviceModules, { name: 'backend' });
onShutdownSignal(running.logger, running.stop);
