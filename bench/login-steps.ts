// Where a login's time goes, step by step, at concurrency 1 (diagnostic for bench/login.ts).
//   DATABASE_URL=… REDIS_URL=… npx tsx bench/login-steps.ts
import './lib/bench-limits';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppClient, registerUser, unary } from '@kfrm/app-client';
import { openTestDatabase } from '@kfrm/db/test-database';
import { LoginServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { startServices } from '@kfrm/runtime';
import { createAuthModule } from '@kfrm/service-auth';
import { deviceModule } from '@kfrm/service-device';
import { e2eKeyModule } from '@kfrm/service-e2e-key';
import { userModule } from '@kfrm/service-user';
import { createStore, prefixed } from '@kfrm/store';

const PIN = '582916';
const dataDir = await mkdtemp(join(tmpdir(), 'kfrm-bench-steps-'));
const database = await openTestDatabase({ poolMax: 10 });
const baseStore = await createStore({ redisUrl: process.env.REDIS_URL });
const store = prefixed(baseStore, `bench-${randomBytes(4).toString('hex')}:`);
const running = await startServices(
  [userModule, deviceModule, e2eKeyModule, createAuthModule({ settings: { secretChecksPerDeviceWindow: 1_000_000 } })],
  {
    name: 'bench-steps',
    env: {
      KFRM_DATA_DIR: dataDir,
      KFRM_MOBILE_LISTEN: '127.0.0.1:0',
      KFRM_INTERNAL_LISTEN: '127.0.0.1:0',
      KFRM_MIGRATE_ON_START: 'true',
      LOG_LEVEL: 'warn',
    },
    db: database,
    store,
  },
);
try {
  const app = new AppClient({ address: `127.0.0.1:${running.mobilePort}`, serverCaPem: await readFile(running.serverCaCertFile) });
  await app.registerDevice();
  const user = await registerUser(app, {
    name: 'Steps',
    phoneNumber: '010-2468-1357',
    deviceUuid: 'steps',
    pin: PIN,
    pattern: '14763',
    residentId: '900115-1234567',
    biometric: false,
  });
  const login = app.client(LoginServiceClient);
  const authn = app.client(AuthenticationServiceClient);
  const totals = { prepare: 0, encrypt: 0, authenticate: 0, login: 0 };
  const n = 30;
  for (let i = 0; i < n + 5; i++) {
    const t0 = performance.now();
    const { process } = await unary(login, login.prepareLogin, { userToken: user.userToken });
    const t1 = performance.now();
    const pin = await app.encrypt(EncryptedMessage_ProviderType.AUTH, PIN);
    const t2 = performance.now();
    await unary(authn, authn.authenticatePinForLogin, { userToken: user.userToken, processId: process!.processId, pin });
    const t3 = performance.now();
    await unary(login, login.login, { userToken: user.userToken, processId: process!.processId });
    const t4 = performance.now();
    if (i >= 5) {
      totals.prepare += t1 - t0;
      totals.encrypt += t2 - t1;
      totals.authenticate += t3 - t2;
      totals.login += t4 - t3;
    }
  }
  for (const [step, ms] of Object.entries(totals)) console.log(`${step.padEnd(13)} ${(ms / n).toFixed(1)} ms`);
  app.close();
} finally {
  await running.stop();
  await store.close();
  await baseStore.close();
  await database.close();
  await rm(dataDir, { recursive: true, force: true });
}
