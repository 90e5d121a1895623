import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { service as healthService } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDatabase } from '@kfrm/db/test-database';
import { createCapturingDestination } from '@kfrm/logging';
import {
  AppVersionServiceClient,
  GetReleasedAppVersionApiError,
  GetReleasedAppVersionApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/appversion/app_version';
import { AccountServiceClient } from '@kfrm/proto/gen/kfrm/api/account/account';
import { CommonApiError, CommonApiError_ErrorCode } from '@kfrm/proto/gen/kfrm/api/common/error';
import { TabMenuServiceClient } from '@kfrm/proto/gen/kfrm/api/tabmenu/tab_menu';
import { UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import type { RunningServices } from '@kfrm/runtime';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { apiErrorCode } from '@kfrm/server-kit';
import { serviceModules } from './service-modules';

const run = promisify(execFile);
const BUF = join(import.meta.dirname, '../../../node_modules/.bin/buf');

/** Promise form of a generated unary client method. */
function call<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, opts: Partial<grpc.CallOptions>, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  req: Req,
  opts: Partial<grpc.CallOptions> = {},
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, new grpc.Metadata(), opts, (err, res) => (err ? reject(err) : resolve(res))));
}

const SEED_SERVICES = [
  'kfrm.api.account.AccountService',
  'kfrm.api.appversion.AppVersionService',
  'kfrm.api.auth.BiometricService',
  'kfrm.api.auth.CredentialChangeService',
  'kfrm.api.auth.DeviceChangeService',
  'kfrm.api.auth.LoginService',
  'kfrm.api.auth.RegistrationService',
  'kfrm.api.auth.SessionManagementService',
  'kfrm.api.auth.SigningCertificateService',
  'kfrm.api.authentication.AuthenticationService',
  'kfrm.api.casa.CasaOpeningService',
  'kfrm.api.device.DeviceService',
  'kfrm.api.e2e.E2eTestService',
  'kfrm.api.funding.FundingService',
  'kfrm.api.key.KeyService',
  'kfrm.api.notification.NotificationService',
  'kfrm.api.tabmenu.TabMenuService',
  'kfrm.api.transfer.TransferService',
  // Extension (member withdrawal), served by the user service on the mobile listener.
  'kfrm.api.user.MembershipService',
];

describe('backend over TLS', () => {
  let services: TestServices;
  let database: TestDatabase;
  let running: RunningServices;
  let credentials: grpc.ChannelCredentials;
  let mobileAddress: string;
  const logs = createCapturingDestination();

  beforeAll(async () => {
    services = await startTestServices(serviceModules, { name: 'backend-test', env: { LOG_LEVEL: 'info' }, logDestination: logs });
    ({ running, database, mobileAddress } = services);
    credentials = grpc.credentials.createSsl(services.serverCaPem);
  }, 60_000);

  afterAll(async () => services?.close());

  it('has a handler for every method it serves', () => {
    expect(running.unimplementedMethods).toEqual([]);
  });

  it('answers the standard health check', async () => {
    const Health = grpc.makeClientConstructor(healthService, 'Health');
    const client = new Health(mobileAddress, credentials) as unknown as {
      check: (req: { service: string }, cb: (err: grpc.ServiceError | null, res: { status: string }) => void) => void;
      close(): void;
    };
    const overall = await new Promise<{ status: string }>((resolve, reject) =>
      client.check({ service: '' }, (e, r) => (e ? reject(e) : resolve(r))),
    );
    expect(overall.status).toBe('SERVING');
    const tabMenu = await new Promise<{ status: string }>((resolve, reject) =>
      client.check({ service: 'kfrm.api.tabmenu.TabMenuService' }, (e, r) => (e ? reject(e) : resolve(r))),
    );
    expect(tabMenu.status).toBe('SERVING');
    client.close();
  });

  it('lists every seed service through server reflection (buf curl), and no internal one', async () => {
    const { stdout } = await run(BUF, [
      'curl',
      '--protocol',
      'grpc',
      '--cacert',
      running.serverCaCertFile,
      '--list-services',
      `https://${mobileAddress}`,
    ]);
    const listed = stdout.trim().split('\n').sort();
    // Health is listed so buf curl / grpcurl can check it (proto/grpc/health/v1).
    expect(listed).toEqual([...SEED_SERVICES, 'grpc.health.v1.Health'].sort());
    const internal = await run(BUF, [
      'curl',
      '--protocol',
      'grpc',
      '--http2-prior-knowledge',
      '--list-services',
      `http://127.0.0.1:${running.internalPort}`,
    ]);
    const internalServices = internal.stdout.trim().split('\n');
    expect(internalServices).toEqual(
      expect.arrayContaining(['kfrm.api.user.UserService', 'kfrm.api.device.DeviceRegistryService', 'grpc.health.v1.Health']),
    );
    for (const name of SEED_SERVICES) expect(internalServices).not.toContain(name);
  });

  it('serves the tab menu from Postgres', async () => {
    const client = new TabMenuServiceClient(mobileAddress, credentials);
    const benefits = await call(client.listBenefitItems.bind(client), {});
    expect(benefits.items.length).toBeGreaterThan(0);
    expect(benefits.items[0]).toMatchObject({ title: '첫 이체 캐시백', appScheme: 'kfrm://benefits/first-transfer' });
    const products = await call(client.listProductCollections.bind(client), {});
    expect(products.collections.map((c) => c.id)).toEqual(['deposits', 'savings']);
    expect(products.collections[1]!.items.map((i) => i.id)).toEqual(['term-deposit-12m', 'savings-26w']);
    const menus = await call(client.listAllMenuCollections.bind(client), {});
    expect(menus.collections[0]!.items.map((i) => i.appScheme)).toContain('kfrm://transfer');
    client.close();
  });

  it('serves the released app version, and APP_VERSION_NOT_FOUND as a decoded detail when none is released', async () => {
    const client = new AppVersionServiceClient(mobileAddress, credentials);
    const released = await call(client.getReleasedAppVersion.bind(client), {});
    expect(released).toEqual({ minimum: { version: '1.0.0' }, latest: { version: '1.1.0' } });

    const auth = database.kysely('auth');
    await auth.updateTable('app_versions').set({ released_at: null }).execute();
    try {
      const err = await call(client.getReleasedAppVersion.bind(client), {}).catch((e: grpc.ServiceError) => e);
      expect((err as grpc.ServiceError).code).toBe(grpc.status.NOT_FOUND);
      expect(apiErrorCode(err, GetReleasedAppVersionApiError)).toBe(GetReleasedAppVersionApiError_ErrorCode.APP_VERSION_NOT_FOUND);
    } finally {
      await auth.updateTable('app_versions').set({ released_at: new Date() }).execute();
    }
    client.close();
  });

  it('refuses a session method without a client certificate with UNAUTHENTICATED_USER', async () => {
    const client = new AccountServiceClient(mobileAddress, credentials);
    const err = (await call(client.listAccounts.bind(client), {}).catch((e: grpc.ServiceError) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(apiErrorCode(err, CommonApiError)).toBe(CommonApiError_ErrorCode.UNAUTHENTICATED_USER);
    client.close();
  });

  it('answers UNIMPLEMENTED for mobile services on the internal listener and internal ones on the mobile listener', async () => {
    const internalTabMenu = new TabMenuServiceClient(`127.0.0.1:${running.internalPort}`, grpc.credentials.createInsecure());
    const err = (await call(internalTabMenu.listBenefitItems.bind(internalTabMenu), {}).catch(
      (e: grpc.ServiceError) => e,
    )) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    internalTabMenu.close();
    const mobileUser = new UserServiceClient(mobileAddress, credentials);
    const err2 = (await call(mobileUser.findByUserId.bind(mobileUser), { userId: '1' }).catch(
      (e: grpc.ServiceError) => e,
    )) as grpc.ServiceError;
    expect(err2.code).toBe(grpc.status.UNIMPLEMENTED);
    mobileUser.close();
  });

  it('refuses plaintext connections on the mobile listener', async () => {
    const client = new TabMenuServiceClient(mobileAddress, grpc.credentials.createInsecure());
    const err = (await call(client.listBenefitItems.bind(client), {}, { deadline: Date.now() + 3000 }).catch(
      (e: grpc.ServiceError) => e,
    )) as grpc.ServiceError;
    expect([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]).toContain(err.code);
    client.close();
  });

  it('logs one line per call with the request id the client sent', async () => {
    const client = new TabMenuServiceClient(mobileAddress, credentials);
    const md = new grpc.Metadata();
    md.set('x-request-id', 'test-request-42');
    await new Promise((resolve, reject) => client.listBenefitItems({}, md, (e, r) => (e ? reject(e) : resolve(r))));
    client.close();
    const line = logs.lines.map((l) => JSON.parse(l)).find((l) => l.request_id === 'test-request-42');
    expect(line).toMatchObject({ method: '/kfrm.api.tabmenu.TabMenuService/ListBenefitItems', code: 'OK', listener: 'mobile' });
  });
});
