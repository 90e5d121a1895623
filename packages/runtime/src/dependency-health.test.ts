import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '@kfrm/db';
import { startPGliteThreadEarly } from '@kfrm/db/pglite-thread';
import { createCapturingDestination, createLogger } from '@kfrm/logging';
import { createMetrics } from '@kfrm/observability';
import { createMemoryStore } from '@kfrm/store';
import { afterAll, describe, expect, it } from 'vitest';
import { watchDependencies } from './dependency-health';

describe('dependency health on the embedded default', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kfrm-dependency-health-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("answers NOT_SERVING once PGlite's thread has ended, with the metric at 0 and a warning", async () => {
    const dataDir = join(dir, 'pglite');
    const thread = startPGliteThreadEarly(dataDir);
    const db = await openDatabase({ dataDir });
    const logs = createCapturingDestination();
    const metrics = createMetrics();
    const changes: boolean[] = [];
    const health = watchDependencies({
      db,
      store: createMemoryStore(),
      storeIsRemote: false,
      metrics,
      logger: createLogger({ service: 'test', destination: logs }),
      intervalMs: 50,
      timeoutMs: 1_000,
      onChange: (serving) => changes.push(serving),
    });
    try {
      // Checked and healthy: nothing to tell.
      await new Promise((r) => setTimeout(r, 300));
      expect(changes).toEqual([]);
      expect(await metrics.registry.getSingleMetricAsString('kfrm_dependency_up')).toContain('kfrm_dependency_up{dependency="pglite"} 1');

      await thread.worker.terminate();
      await expect.poll(() => changes, { timeout: 5_000 }).toEqual([false]);
      expect(await metrics.registry.getSingleMetricAsString('kfrm_dependency_up')).toContain('kfrm_dependency_up{dependency="pglite"} 0');
      expect(logs.lines.map((l) => JSON.parse(l))).toContainEqual(
        expect.objectContaining({ level: 'warn', dependency: 'pglite', msg: 'dependency down: health is NOT_SERVING' }),
      );
    } finally {
      health.stop();
      await db.close();
    }
  }, 60_000);
});
