// What an idempotency key costs a mutating call (docs/idempotency.md, docs/performance.md
// "Idempotency keys"): runIdempotent around a handler that does nothing but answer ~1 KiB (a
// CreateDevice-sized answer), on the store the backend uses (Redis when REDIS_URL is set).
//   REDIS_URL=redis://127.0.0.1:6379 npx tsx bench/idempotency.ts [calls]
// Prints, for 1 and 16 concurrent callers: calls per second and mean µs per call without a key
// (the handler alone), with a fresh key (claim + answer: two round trips) and replays (a
// retry: claim refused + read), the key's extra µs per call, and the load average.
import { randomBytes, randomUUID } from 'node:crypto';
import { loadavg } from 'node:os';
import { runIdempotent, type IdempotencyOptions } from '@kfrm/server-kit';
import { createStore, prefixed } from '@kfrm/store';

const N = Number(process.argv[2] ?? 4000);
const uptime = () =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(', ')}`;
const answer = randomBytes(1024).toString('base64');
const request = randomBytes(200);

console.log(`bench/idempotency.ts · ${N} calls per run · before: ${uptime()}`);
const root = await createStore({ redisUrl: process.env.REDIS_URL });
const store = prefixed(root, `bench-idempotency-${randomUUID()}:`);
console.log(`store: ${process.env.REDIS_URL ? 'redis' : 'memory'}`);
const options: IdempotencyOptions = { records: store, windowMs: 60_000 };
const signal = new AbortController().signal;
const principal = { level: 'session' as const, session: { userId: 'bench-user', deviceId: '1', sessionToken: 't' } };

const call = (key: string | undefined) =>
  runIdempotent(
    options,
    {
      keys: key === undefined ? [] : [key],
      principal,
      method: '/kfrm.api.device.DeviceService/CreateDevice',
      requestBytes: request,
      serialize: (r: string) => Buffer.from(r),
      deserialize: (b) => b.toString(),
      signal,
    },
    async () => answer,
  );

async function run(label: string, concurrency: number, keyOf: (i: number) => string | undefined): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < N) await call(keyOf(next++));
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const micros = (seconds * 1e6 * concurrency) / N;
  console.log(
    `  ${label.padEnd(26)} c=${String(concurrency).padStart(2)}  ${Math.round(N / seconds)
      .toString()
      .padStart(7)}/s  ${micros.toFixed(0).padStart(6)} µs/call`,
  );
  return micros;
}

try {
  for (const concurrency of [1, 16]) {
    const keys = Array.from({ length: N }, () => randomUUID());
    await run('warm-up', concurrency, (i) => `${keys[i]}w`.slice(0, 64));
    const bare = await run('no key (handler alone)', concurrency, () => undefined);
    const fresh = await run('fresh key (first call)', concurrency, (i) => keys[i]);
    const replay = await run('same key again (replay)', concurrency, (i) => keys[i]);
    console.log(
      `  → a key adds ${(fresh - bare).toFixed(0)} µs to a first call, a replay costs ${replay.toFixed(0)} µs (c=${concurrency})`,
    );
  }
} finally {
  await store.close();
  await root.close();
  console.log(`after: ${uptime()}`);
}
