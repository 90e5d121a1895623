// Statement trace of one login (not a benchmark): the backend in its own process with
// BENCH_TRACE_SQL, one user, one warm-up login, then one PIN login with markers between its
// calls (PrepareLogin, AuthenticatePinForLogin, Login). Prints each call's statements.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/trace-login.ts
import './lib/bench-limits';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppClient, loginWithPin, registerUser, unary } from '@kfrm/app-client';
import { LoginServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { startBackendProcess } from './lib/backend-process';

const PIN = '582916';
const dir = await mkdtemp(join(tmpdir(), 'kfrm-trace-login-'));
const traceFile = join(dir, 'sql.log');
process.env.BENCH_TRACE_SQL = traceFile;
const backend = await startBackendProcess({
  services: ['user', 'device', 'e2e-key', 'auth'],
  authSettings: { secretChecksPerDeviceWindow: 1000 },
});
const app = new AppClient({ address: `127.0.0.1:${backend.mobilePort}`, serverCaPem: await readFile(backend.serverCaCertFile) });
try {
  await app.registerDevice();
  const user = await registerUser(app, {
    name: 'Trace User',
    phoneNumber: '010-2468-1357',
    deviceUuid: 'trace-login',
    pin: PIN,
    pattern: '14763',
    residentId: '900115-1000001',
    biometric: false,
  });
  await loginWithPin(app, user.userToken, PIN);
  const count = () => readFileSync(traceFile, 'utf8').split('\n').filter(Boolean).length;
  const marks: [number, string][] = [[count(), 'start']];
  const settle = () => new Promise((r) => setTimeout(r, 300));
  const login = app.client(LoginServiceClient);
  const authentication = app.client(AuthenticationServiceClient);
  await settle();
  marks.push([count(), 'warm-up done']);
  const { process: started } = await unary(login, login.prepareLogin, { userToken: user.userToken });
  await settle();
  marks.push([count(), 'PrepareLogin']);
  const pin = await app.encrypt(EncryptedMessage_ProviderType.AUTH, PIN);
  await unary(authentication, authentication.authenticatePinForLogin, { userToken: user.userToken, processId: started!.processId, pin });
  await settle();
  marks.push([count(), 'AuthenticatePinForLogin']);
  await unary(login, login.login, { userToken: user.userToken, processId: started!.processId });
  await settle();
  marks.push([count(), 'Login']);
  const lines = readFileSync(traceFile, 'utf8').split('\n').filter(Boolean);
  for (let i = 2; i < marks.length; i++) {
    const [from, to, label] = [marks[i - 1]![0], marks[i]![0], marks[i]![1]];
    console.log(`\n== ${label}: ${to - from} statements`);
    for (const l of lines.slice(from, to)) console.log(`  ${l.slice(14, 214)}`);
  }
} finally {
  app.close();
  await backend.stop();
  await rm(dir, { recursive: true, force: true });
}
