// Composition root of the embedded default: every service in one process (see README).
import { startEmbeddedDatabaseEarly } from '@kfrm/runtime/early-database';

// PGlite opens on its own thread while the services' code loads (the imports below), not after it.
startEmbeddedDatabaseEarly();
const { runService } = await import('@kfrm/runtime');
const { serviceModules } = await import('./service-modules');
await runService(serviceModules, { name: 'backend' });
