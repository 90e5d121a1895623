// Shared set-up of the identity gRPC tests: device, E2E key and auth services plus a user service
// (the real one, or the in-memory stand-in), and what the phone does to sign up and log in.
import { generateKeyPairSync, randomBytes, webcrypto } from 'node:crypto';
import { expect } from 'vitest';
import type * as grpc from '@grpc/grpc-js';
import { AppClient, unary, type DeviceKeyKind } from '@kfrm/app-client';
import { createCapturingDestination } from '@kfrm/logging';
import { createCsr, signData } from '@kfrm/pki';
import { LoginServiceClient, RegistrationServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/auth';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { AuthenticationProcess_ProcessStatus, EncryptedMessage_ProviderType } from '@kfrm/proto/gen/kfrm/api/common/common';
import type { ServiceModule } from '@kfrm/runtime';
import { startTestServices } from '@kfrm/runtime/testing/services.harness';
import { deviceModule } from '@kfrm/service-device';
import { e2eKeyModule } from '@kfrm/service-e2e-key';
import { createStore, prefixed, type Store } from '@kfrm/store';
import { createAuthModule, type AuthModuleOptions } from '@kfrm/service-auth/auth.module';

export const { AUTH } = EncryptedMessage_ProviderType;
export const PHONE = '010-2468-1357';
export const PIN = '582916';
export const WRONG_PIN = '582917';
export const PATTERN = '14763';

export const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.unreachable('call succeeded'),
    (e: grpc.ServiceError) => e,
  );

export const bearer = (sessionToken: string) => ({ metadata: { authorization: `Bearer ${sessionToken}` } });
export const reg = (app: AppClient) => app.client(RegistrationServiceClient);
export const loginSvc = (app: AppClient) => app.client(LoginServiceClient);
export const authn = (app: AppClient) => app.client(AuthenticationServiceClient);

/** `extraModules` start after the identity services (e.g. account and notification, for streams). */
export async function startIdentityHarness(
  userModule: ServiceModule,
  authOptions: AuthModuleOptions = {},
  extraModules: ServiceModule[] = [],
) {
  const baseStore = await createStore({ redisUrl: process.env.REDIS_URL });
  // Redis outlives each test database, whose user ids start again at 1: a view of our own keeps
  // an earlier run's attempt counters and locks away from this run's users.
  const store: Store = prefixed(baseStore, `test-${randomBytes(6).toString('hex')}:`);
  const logs = createCapturingDestination();
  const modules = [deviceModule, e2eKeyModule, createAuthModule(authOptions), userModule, ...extraModules];
  // startTestServices closes only a store it made: the view and the store under it are ours.
  const services = await startTestServices(modules, { name: 'auth-test', store, logDestination: logs, serviceIdentity: true }).catch(
    async (err: unknown) => {
      await store.close();
      await baseStore.close();
      throw err;
    },
  );
  const { running, serverCaPem, mobileAddress: address } = services;
  const apps: AppClient[] = [];
  /** Every token and key the tests saw, for the log check. */
  const secretsSeen: string[] = [];
  let seq = 0;

  async function newPhone(kind: DeviceKeyKind = 'ec-p256') {
    const app = new AppClient({ address, serverCaPem });
    apps.push(app);
    await app.registerDevice(kind);
    return app;
  }

  async function createUser(app: AppClient) {
    const r = reg(app);
    const name = `Kim Tester ${++seq}`;
    const created = await unary(r, r.createUser, {
      idpType: 'mobile',
      idpName: 'sandbox',
      name,
      phoneNumber: PHONE,
      verificationHint: '123456',
      deviceUuid: { id: `uuid-${seq}` },
    });
    secretsSeen.push(created.userToken);
    return { ...created, name };
  }

  async function agree(app: AppClient, userToken: string) {
    const r = reg(app);
    const { terms } = await unary(r, r.listTerms, { userToken });
    return unary(r, r.agreeTerms, { userToken, agreements: terms.map((t) => ({ termId: t.id, agreed: true })) });
  }

  /** A fresh P-256 signing key and its CSR, as the app makes them. */
  async function signingKey(kind: 'ec' | 'rsa' = 'ec') {
    const algorithm =
      kind === 'ec'
        ? { name: 'ECDSA', namedCurve: 'P-256' }
        : { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' };
    const keyPair = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    return { keyPair, csr: (await createCsr(keyPair)).pem };
  }

  async function issueAndVerify(app: AppClient, userToken: string, kind: 'ec' | 'rsa' = 'ec') {
    const r = reg(app);
    const { keyPair, csr } = await signingKey(kind);
    const issued = await unary(r, r.issueSigningCertificate, { userToken, csr });
    secretsSeen.push(issued.verificationToken);
    const signed = await signData({
      content: Buffer.from(issued.verificationToken),
      certificateDer: Buffer.from(issued.certificate, 'base64'),
      privateKey: keyPair.privateKey,
      detached: false,
    });
    await unary(r, r.verifySigningCertificate, { userToken, signedData: signed.base64 });
    return { ...issued, keyPair };
  }

  /** A plausible resident id of its own for each sign-up (one member per resident id). */
  let residentIds = 0;
  const nextResidentId = () => `900115-1${String(++residentIds).padStart(6, '0')}`;

  /** The whole sign-up; returns what the phone keeps. */
  async function register(app: AppClient, options: { biometric?: 'ec' | 'rsa' | false; signing?: 'ec' | 'rsa'; residentId?: string } = {}) {
    const r = reg(app);
    const created = await createUser(app);
    const userToken = created.userToken;
    await agree(app, userToken);
    await unary(r, r.registerPin, { userToken, pin: await app.encrypt(AUTH, PIN) });
    await unary(r, r.confirmPin, { userToken, pin: await app.encrypt(AUTH, PIN) });
    await unary(r, r.registerPattern, { userToken, pattern: await app.encrypt(AUTH, PATTERN) });
    await unary(r, r.confirmPattern, { userToken, pattern: await app.encrypt(AUTH, PATTERN) });
    const bioKind = options.biometric ?? 'ec';
    const bio =
      bioKind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    if (bioKind) {
      const bioSpki = (bio.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64');
      secretsSeen.push(bioSpki);
      await unary(r, r.registerBiometric, { userToken, publicKey: await app.encrypt(AUTH, bioSpki) });
    }
    const issued = await issueAndVerify(app, userToken, options.signing);
    const { customerId } = await unary(r, r.submitCustomerInfo, { residentId: options.residentId ?? nextResidentId(), name: created.name });
    await unary(r, r.registerKyc, { kycData: '{"document":"id-card"}' });
    return { userId: created.userId, userToken, customerId, bio, certificate: issued.certificate };
  }

  async function loginWithPin(app: AppClient, userToken: string) {
    const l = loginSvc(app);
    const a = authn(app);
    const { process } = await unary(l, l.prepareLogin, { userToken });
    const done = await unary(a, a.authenticatePinForLogin, { userToken, processId: process!.processId, pin: await app.encrypt(AUTH, PIN) });
    expect(done.process?.status).toBe(AuthenticationProcess_ProcessStatus.DONE);
    const session = await unary(l, l.login, { userToken, processId: process!.processId });
    secretsSeen.push(session.sessionToken, session.refreshToken);
    return session;
  }

  async function close() {
    for (const app of apps) app.close();
    await services.close();
    await store.close();
    await baseStore.close();
  }

  return {
    running,
    /** Calls to the internal listener as a service (`identity.as('auth')`) or an operator's tool (`identity.anonymous()`). */
    identity: services.identity!,
    store,
    logs,
    secretsSeen,
    newPhone,
    createUser,
    agree,
    signingKey,
    issueAndVerify,
    register,
    nextResidentId,
    loginWithPin,
    close,
  };
}

export type IdentityHarness = Awaited<ReturnType<typeof startIdentityHarness>>;
