// Logins per second through gRPC beside raw argon2id verifies per second with the same
// parameters on the same machine (issue "Identity": goal ratio >= 0.9).
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/login.ts [seconds-per-step=5]
//
// A login is what the phone does: PrepareLogin, AuthenticatePinForLogin (E2E-encrypted PIN,
// argon2id verify, process step) and Login (session issued), over TLS with a device certificate.
// Both sides run with the same concurrency; the client (E2E encryption, TLS) shares the CPU.
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppClient, loginWithPin, registerUser } from '@kfrm/app-client';
import { createSecretHasher, OWASP_ARGON2ID_PARAMETERS } from '@kfrm/credentials';
import { openTestDatabase } from '@kfrm/db/test-database';
import { startServices } from '@kfrm/runtime';
import { createAuthModule } from '@kfrm/service-auth';
import { deviceModule } from '@kfrm/service-device';
import { e2eKeyModule } from '@kfrm/service-e2e-key';
import { userModule } from '@kfrm/service-user';
import { createStore, prefixed } from '@kfrm/store';

const seconds = Number(process.argv[2] ?? 5);
const concurrencies = [1, 4, 8];
const PIN = '582916';

async function forDuration(workers: number, durationMs: number, work: (worker: number) => Promise<void>): Promise<number> {
  let done = 0;
  const until = Date.now() + durationMs;
  await Promise.all(
    Array.from({ length: workers }, async (_, worker) => {
      while (Date.now() < until) {
        await work(worker);
        done++;
      }
    }),
  );
  return done / (durationMs / 1000);
}

const dataDir = await mkdtemp(join(tmpdir(), 'kfrm-bench-login-'));
const database = await openTestDatabase({ poolMax: 10 });
const baseStore = await createStore({ redisUrl: process.env.REDIS_URL });
const store = prefixed(baseStore, `bench-${randomBytes(4).toString('hex')}:`);
const running = await startServices(
  [userModule, deviceModule, e2eKeyModule, createAuthModule({ settings: { secretChecksPerDeviceWindow: 1_000_000 } })],
  {
    name: 'bench-login',
    env: { KFRM_DATA_DIR: dataDir, KFRM_MOBILE_LISTEN: '127.0.0.1:0', KFRM_INTERNAL_LISTEN: '127.0.0.1:0', KFRM_MIGRATE_ON_START: 'true', LOG_LEVEL: 'warn' },
    db: database,
    store,
  },
);
try {
  const serverCaPem = await readFile(running.serverCaCertFile);
  const address = `127.0.0.1:${running.mobilePort}`;
  const maxWorkers = Math.max(...concurrencies);
  const phones: { app: AppClient; userToken: string }[] = [];
  for (let i = 0; i < maxWorkers; i++) {
    const app = new AppClient({ address, serverCaPem });
    await app.registerDevice();
    const user = await registerUser(app, {
      name: `Bench User ${i}`,
      phoneNumber: '010-2468-1357',
      deviceUuid: `bench-${i}`,
      pin: PIN,
      pattern: '14763',
      residentId: '900115-1234567',
      biometric: false,
    });
    phones.push({ app, userToken: user.userToken });
  }
  // Warm up every phone's connection and E2E keys.
  await Promise.all(phones.map((p) => loginWithPin(p.app, p.userToken, PIN)));

  const hasher = createSecretHasher({ pepper: randomBytes(32) });
  const hash = await hasher.hashSecret(PIN);

  const rows: string[][] = [];
  for (const workers of concurrencies) {
    const logins = await forDuration(workers, seconds * 1000, (w) => loginWithPin(phones[w]!.app, phones[w]!.userToken, PIN).then(() => undefined));
    const verifies = await forDuration(workers, seconds * 1000, async () => {
      if (!(await hasher.verifySecret(hash, PIN))) throw new Error('verify failed');
    });
    rows.push([String(workers), logins.toFixed(1), verifies.toFixed(1), (logins / verifies).toFixed(2)]);
  }
  const p = OWASP_ARGON2ID_PARAMETERS;
  console.log(`argon2id m=${p.memoryCostKiB} KiB t=${p.timeCost} p=${p.parallelism}; ${seconds}s per step; UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);
  console.log(`database: ${database.source}; store: ${process.env.REDIS_URL ? 'redis' : 'memory'}`);
  console.log('| concurrency | logins/s (gRPC) | argon2 verifies/s | ratio |');
  console.log('|---:|---:|---:|---:|');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  for (const p of phones) p.app.close();
} finally {
  await running.stop();
  await store.close();
  await baseStore.close();
  await database.close();
  await rm(dataDir, { recursive: true, force: true });
}
