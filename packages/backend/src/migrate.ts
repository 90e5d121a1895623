// `pnpm migrate`: applies every service's migrations and exits. In real mode this runs as a
// one-shot job before the services start; the embedded default also migrates at start.
import { openDatabase } from '@kfrm/db';
import { createLogger } from '@kfrm/logging';
import { migrateModules, readRuntimeConfig } from '@kfrm/runtime';
import { serviceModules } from './service-modules';

const config = readRuntimeConfig();
const logger = createLogger({ service: 'migrate', level: config.logLevel });
// DB_POOL_MAX bounds it too: deployments count its connections with the services'.
const db = await openDatabase({ databaseUrl: config.databaseUrl, dataDir: config.pgliteDir, poolMax: config.dbPoolMax });
try {
  await migrateModules(db, serviceModules, logger);
} catch (err) {
  logger.error({ err }, 'migration failed');
  process.exitCode = 1;
} finally {
  await db.close();
}
