/**
 * The embedded default's database, started before the services' code loads: PGlite opens on its
 * own thread (@kfrm/db's pglite-thread.ts) while the main thread loads and compiles everything
 * else, instead of after it (ADR 0022). The start's `openDatabase` for the same data directory
 * takes the thread over.
 *
 * Light on purpose: an entry point imports this module, and only this one, before the rest.
 */
import { startPGliteThreadEarly } from '@kfrm/db/pglite-thread';
import type { Env } from '@kfrm/config';
import { readRuntimeConfig } from './runtime-config';

export function startEmbeddedDatabaseEarly(env: Env = process.env): void {
  let config: ReturnType<typeof readRuntimeConfig>;
  try {
    config = readRuntimeConfig(env);
  } catch {
    // The start reads the configuration again and reports what is wrong with it.
    return;
  }
  if (config.mode === 'embedded') startPGliteThreadEarly(config.pgliteDir);
}
