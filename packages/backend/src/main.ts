// Composition root of the embedded default: every service in one process (see README).
import { runService } from '@kfrm/runtime';
import { serviceModules } from './service-modules';

await runService(serviceModules, { name: 'backend' });
