import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBundles } from './build';
import { mapStackText, sourceMapsIn } from './map-stack';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('map-stack: bundle positions in a logged stack back to the TypeScript', () => {
  // A bundle built as the production build builds (esbuild, its source map beside it), run
  // without --enable-source-maps as the services run: its stack names bundle positions.
  const folder = join(root, '.tmp', `map-stack-test-${randomBytes(4).toString('hex')}`);
  const dist = join(folder, 'dist');
  let stack = '';
  beforeAll(async () => {
    mkdirSync(join(folder, 'src'), { recursive: true });
    writeFileSync(
      join(folder, 'src', 'helper.ts'),
      'export const unused = 1;\n\nexport function fail(why: string): never {\n  throw new Error("refused: " + why);\n}\n',
    );
    writeFileSync(
      join(folder, 'src', 'entry.ts'),
      "import { fail } from './helper';\n\nfunction decide(amount: number) {\n  if (amount > 10) fail('too much');\n  return amount;\n}\ntry {\n  decide(11);\n} catch (err) {\n  process.stdout.write((err as Error).stack ?? '');\n}\n",
    );
    await buildBundles({ entry: join(folder, 'src', 'entry.ts') }, dist);
    const run = spawnSync(process.execPath, [join(dist, 'entry.mjs')], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    stack = run.stdout;
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('maps each frame in the bundle to its source file, line and column', () => {
    expect(stack).toMatch(/entry\.mjs:\d+:\d+/);
    const mapped = mapStackText(stack, sourceMapsIn(dist));
    expect(mapped).toContain('Error: refused: too much');
    // `throw` is on line 4 of helper.ts, the call of fail() on line 4 of entry.ts, decide(11) on line 8.
    expect(mapped).toMatch(/at fail \(src\/helper\.ts:4:\d+\)/);
    expect(mapped).toMatch(/at decide \(src\/entry\.ts:4:\d+\)/);
    expect(mapped).toMatch(/src\/entry\.ts:8:\d+/);
    expect(mapped).not.toMatch(/entry\.mjs:\d+:\d+/);
  });

  it("maps a stack logged as a JSON string from another machine (the image's /app/dist), and leaves the rest alone", () => {
    const frame = /entry\.mjs:(\d+):(\d+)/.exec(stack)!;
    const logLine = JSON.stringify({
      level: 'error',
      msg: 'call failed',
      err: { stack: `Error: refused\n    at decide (file:///app/dist/entry.mjs:${frame[1]}:${frame[2]})\n    at node:internal/main:1:2` },
    });
    const mapped = mapStackText(logLine, sourceMapsIn(dist));
    expect(mapped).toMatch(/at decide \(src\/(entry|helper)\.ts:\d+:\d+\)/);
    expect(mapped).toContain('node:internal/main:1:2');
    expect(() => JSON.parse(mapped)).not.toThrow();
  });

  it('leaves positions it has no map for as they are', () => {
    const text = 'at x (/app/dist/services/nothing-here.mjs:10:5)\nat y (/usr/lib/other.mjs:3:1)';
    expect(mapStackText(text, sourceMapsIn(dist))).toBe(text);
  });
});
