// Issue 16: the internal listener asked nobody who they were — Deposit, UpdateKyc, UnlockUser and
// RevokeDevice answered anyone who reached it. Operator methods now want an operator's bearer
// token with the right role, or a service's certificate that the method's callers name;
// everything else is refused and audited. The backend here runs its internal listener over mTLS
// (as a split service does): the test calls as an operator's tool (TLS, no certificate) or as a
// service (that service's internal certificate).
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { AuditLogServiceClient } from '@kfrm/proto/gen/kfrm/api/user/audit_log_internal';
import { operatorTokenInterceptor } from '@kfrm/runtime';
import { randomUUID } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unary } from '@kfrm/app-client';
import { AuditLog } from '@kfrm/audit';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { CredentialServiceClient } from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { DeviceRegistryServiceClient, RevocationReason } from '@kfrm/proto/gen/kfrm/api/device/device_internal';
import { KycStatus } from '@kfrm/proto/gen/kfrm/api/user/user';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { bearer, operatorToken, tamperedOperatorToken } from '@kfrm/runtime/testing/operator-tokens.fixtures';
import { testServiceIdentity, type TestServiceIdentity } from '@kfrm/runtime/testing/service-identity.fixtures';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { serviceModules } from './service-modules';

let services: TestServices;
let ledger: LedgerServiceClient;
let accounts: UserAccountServiceClient;
let credentials: CredentialServiceClient;
let devices: DeviceRegistryServiceClient;
let issuerDir: string;
let identity: TestServiceIdentity;
let pkiDir: string;
/** Clients of the auth service (its certificate): service calls. */
let asAuth: UserAccountServiceClient;
let asTransfer: UserAccountServiceClient;
const audit = () => new AuditLog(services.database);

beforeAll(async () => {
  pkiDir = await mkdtemp(join(tmpdir(), 'kfrm-operator-access-pki-'));
  identity = await testServiceIdentity(pkiDir, ['auth', 'transfer']);
  services = await startTestServices(serviceModules, { name: 'operator-access', env: { LOG_LEVEL: 'silent', ...identity.env } });
  // An operator's tool: TLS, no client certificate (its token says who it is).
  const operatorTool = identity.anonymous();
  ledger = new LedgerServiceClient(services.internalAddress, operatorTool);
  accounts = new UserAccountServiceClient(services.internalAddress, operatorTool);
  credentials = new CredentialServiceClient(services.internalAddress, operatorTool);
  devices = new DeviceRegistryServiceClient(services.internalAddress, operatorTool);
  asAuth = new UserAccountServiceClient(services.internalAddress, identity.as('auth'));
  asTransfer = new UserAccountServiceClient(services.internalAddress, identity.as('transfer'));
  issuerDir = services.running.config.operatorIssuerDir;
}, 60_000);

afterAll(async () => {
  for (const client of [ledger, accounts, credentials, devices, asAuth, asTransfer]) client?.close();
  await services?.close();
  await rm(pkiDir, { recursive: true, force: true });
});

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => grpc.status.OK,
    (err: grpc.ServiceError) => err.code,
  );

const deposit = (metadata: Record<string, string> = {}) =>
  unary(
    ledger,
    ledger.deposit,
    {
      idempotencyKey: `operator-test-${randomUUID()}`,
      accountNumber: '3333-00000000000',
      amount: { currencyCode: CurrencyCode.KRW, majorAmount: 5_000n, minorAmount: 0n },
      memo: 'operator test',
      events: [],
    },
    { metadata },
  );
const updateKyc = (metadata: Record<string, string> = {}, client = () => accounts) =>
  unary(
    client(),
    client().updateKyc,
    { userId: 987_654_321n, kycStatus: KycStatus.VERIFIED, reason: 'reviewed', kycData: '' },
    { metadata },
  );

describe('operator methods on the internal listener', () => {
  it('refuse a call with no credentials: UNAUTHENTICATED (Deposit, UpdateKyc, UnlockUser, RevokeDevice)', async () => {
    expect(await codeOf(deposit())).toBe(grpc.status.UNAUTHENTICATED);
    expect(await codeOf(updateKyc())).toBe(grpc.status.UNAUTHENTICATED);
    expect(await codeOf(unary(credentials, credentials.unlockUser, { userId: 1n, reason: 'x' }))).toBe(grpc.status.UNAUTHENTICATED);
    expect(
      await codeOf(unary(devices, devices.revokeDevice, { deviceId: 1n, reason: RevocationReason.REVOCATION_REASON_USER_BLOCKED })),
    ).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('refuse expired, foreign-signed, wrong-issuer, wrong-audience and malformed tokens: UNAUTHENTICATED', async () => {
    const roles = ['teller'] as const;
    for (const token of [
      await tamperedOperatorToken(issuerDir, { roles, expiresInSeconds: -120 }),
      await tamperedOperatorToken(issuerDir, { roles, foreignKey: true }),
      await tamperedOperatorToken(issuerDir, { roles, issuer: 'https://elsewhere.example' }),
      await tamperedOperatorToken(issuerDir, { roles, audience: 'another-api' }),
      'not-a-jwt-but-long-enough-for-the-header',
    ]) {
      expect(await codeOf(deposit(bearer(token)))).toBe(grpc.status.UNAUTHENTICATED);
    }
    // A token whose signature no longer matches its payload.
    const good = await operatorToken(issuerDir, ['kyc-reviewer']);
    const [header, , signature] = good.split('.');
    const forged = `${header}.${Buffer.from(JSON.stringify({ sub: 'x', roles: ['teller'] })).toString('base64url')}.${signature}`;
    expect(await codeOf(deposit(bearer(forged)))).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('refuse a valid operator without the method role: PERMISSION_DENIED', async () => {
    const kycReviewer = await operatorToken(issuerDir, ['kyc-reviewer']);
    expect(await codeOf(deposit(bearer(kycReviewer)))).toBe(grpc.status.PERMISSION_DENIED);
    const teller = await operatorToken(issuerDir, ['teller', 'auditor']);
    expect(await codeOf(updateKyc(bearer(teller)))).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('serve an operator with the role (the call then reaches the handler: unknown account or user is NOT_FOUND)', async () => {
    expect(await codeOf(deposit(bearer(await operatorToken(issuerDir, ['teller']))))).toBe(grpc.status.NOT_FOUND);
    expect(await codeOf(updateKyc(bearer(await operatorToken(issuerDir, ['kyc-reviewer']))))).toBe(grpc.status.NOT_FOUND);
  });

  it('serve a service the method names, by its certificate, without a token (service-to-service; see docs/operators.md)', async () => {
    expect(await codeOf(updateKyc({}, () => asAuth))).toBe(grpc.status.NOT_FOUND);
    // A token, when present, is always checked: a service certificate does not excuse a bad one.
    const expired = await tamperedOperatorToken(issuerDir, { roles: ['kyc-reviewer'], expiresInSeconds: -120 });
    expect(await codeOf(updateKyc(bearer(expired), () => asAuth))).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('refuse a forged caller-service header (UNAUTHENTICATED) and a service the method does not name (PERMISSION_DENIED)', async () => {
    expect(await codeOf(updateKyc({ 'x-kfrm-caller-service': 'auth' }))).toBe(grpc.status.UNAUTHENTICATED);
    expect(
      await codeOf(
        unary(accounts, accounts.findByUserToken, { userToken: 'unknown-token' }, { metadata: { 'x-kfrm-caller-service': 'auth' } }),
      ),
    ).toBe(grpc.status.UNAUTHENTICATED);
    expect(await codeOf(updateKyc({ 'x-kfrm-caller-service': 'auth' }, () => asTransfer))).toBe(grpc.status.PERMISSION_DENIED);
  });

  it('record every refusal and every operator action in the audit log, with no token in it', async () => {
    const before = (await audit().list({ newestFirst: true, limit: 1 }))[0]?.seq ?? 0n;
    const teller = await operatorToken(issuerDir, ['teller'], 'teller-7');
    expect(await codeOf(deposit())).toBe(grpc.status.UNAUTHENTICATED);
    expect(await codeOf(updateKyc(bearer(teller)))).toBe(grpc.status.PERMISSION_DENIED);
    expect(await codeOf(deposit(bearer(teller)))).toBe(grpc.status.NOT_FOUND);
    expect(await codeOf(updateKyc({}, () => asAuth))).toBe(grpc.status.NOT_FOUND);
    expect(await codeOf(updateKyc({}, () => asTransfer))).toBe(grpc.status.PERMISSION_DENIED);
    expect(await codeOf(unary(accounts, accounts.findByUserToken, { userToken: 'unknown-token' }))).toBe(grpc.status.UNAUTHENTICATED);
    // Every row is written before its call is answered; the loop only guards against a slow commit.
    let rows = await audit().list({ afterSeq: before });
    for (let i = 0; i < 50 && rows.length < 7; i++) {
      await new Promise((r) => setTimeout(r, 20));
      rows = await audit().list({ afterSeq: before });
    }
    const seen = rows.map((r) => [r.actorKind, r.actor, r.action, r.target, r.outcome]);
    expect(seen).toEqual(
      expect.arrayContaining([
        ['anonymous', '', 'operator.authentication_failed', '/kfrm.api.account.LedgerService/Deposit', 'UNAUTHENTICATED'],
        ['operator', 'teller-7', 'operator.call_refused', '/kfrm.api.user.UserAccountService/UpdateKyc', 'PERMISSION_DENIED'],
        ['operator', 'teller-7', 'ledger.deposit', 'account:3333-00000000000', 'requested'],
        ['operator', 'teller-7', 'ledger.deposit', 'account:3333-00000000000', 'NOT_FOUND:ACCOUNT_NOT_FOUND'],
        ['service', 'auth', 'user.kyc_decision', 'user:987654321', 'NOT_FOUND:USER_NOT_FOUND'],
        ['service', 'transfer', 'internal.call_refused', '/kfrm.api.user.UserAccountService/UpdateKyc', 'PERMISSION_DENIED'],
        ['anonymous', '', 'internal.caller_unknown', '/kfrm.api.user.UserAccountService/FindByUserToken', 'UNAUTHENTICATED'],
      ]),
    );
    expect(rows.find((r) => r.action === 'ledger.deposit')!.detail).toMatchObject({ amount: 'KRW 5000.0' });
    expect(JSON.stringify(rows.map((r) => ({ ...r, seq: String(r.seq) })))).not.toContain(teller.split('.')[2]!);
    expect((await audit().verify()).ok).toBe(true);
  });

  it('let an auditor read and verify the audit log (and nobody else), and show an edited row', async () => {
    const auditor = new AuditLogServiceClient(services.internalAddress, identity.anonymous(), {
      interceptors: [operatorTokenInterceptor(await operatorToken(issuerDir, ['auditor'], 'auditor-1'))],
    });
    const teller = new AuditLogServiceClient(services.internalAddress, identity.anonymous(), {
      interceptors: [operatorTokenInterceptor(await operatorToken(issuerDir, ['teller']))],
    });
    try {
      expect(await codeOf(unary(teller, teller.verifyAuditLog, {}))).toBe(grpc.status.PERMISSION_DENIED);
      const { entries } = await unary(auditor, auditor.listAuditLogEntries, { beforeSeq: 0n, limit: 5 });
      expect(entries.length).toBe(5);
      expect(entries[0]!.seq).toBeGreaterThan(entries[1]!.seq);
      const verified = await unary(auditor, auditor.verifyAuditLog, {});
      expect(verified).toMatchObject({ ok: true });
      await services.database
        .kysely()
        .transaction()
        .execute(async (trx) => {
          await sql`set local session_replication_role = replica`.execute(trx);
          await sql`update audit.audit_log set actor = 'someone-else' where seq = 3`.execute(trx);
        });
      expect(await unary(auditor, auditor.verifyAuditLog, {})).toMatchObject({ ok: false, brokenSeq: 3n, problem: 'row hash differs' });
    } finally {
      auditor.close();
      teller.close();
    }
  });

  it('serve service-only internal methods to the services they name, and to nobody else', async () => {
    expect(await codeOf(unary(asAuth, asAuth.findByUserToken, { userToken: 'unknown-token' }))).toBe(grpc.status.NOT_FOUND);
    expect(await codeOf(unary(asTransfer, asTransfer.findByUserToken, { userToken: 'unknown-token' }))).toBe(grpc.status.PERMISSION_DENIED);
    expect(await codeOf(unary(accounts, accounts.findByUserToken, { userToken: 'unknown-token' }))).toBe(grpc.status.UNAUTHENTICATED);
  });
});
