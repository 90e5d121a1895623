// The simulator against the embedded backend started in this process: every service module, the
// real listeners (TLS mobile, plaintext internal) on free ports, a test database and store.
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceModules } from '@kfrm/backend/service-modules';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { TransactionType } from '@kfrm/proto/gen/kfrm/api/account/account';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import { NotificationEventType } from '@kfrm/proto/gen/kfrm/api/notification/notification';
import { startServices, type RunningServices } from '@kfrm/runtime';
import { createStore, prefixed, type Store } from '@kfrm/store';
import { runDemo, STEP_COUNT, type DemoOptions } from './demo';
import { main } from './main';
import { findDemoOperators } from './operator-credentials';

let dataDir: string;
let database: TestDatabase;
let baseStore: Store;
let store: Store;
let running: RunningServices;
let options: DemoOptions;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'kfrm-demo-'));
  database = await openTestDatabase();
  baseStore = await createStore({ redisUrl: process.env.REDIS_URL });
  // Redis outlives the test database: per-device throttles (device ids restart at 1) must not add up across runs.
  store = prefixed(baseStore, `demo-test-${randomUUID()}:`);
  running = await startServices(serviceModules, {
    name: 'demo-test',
    env: {
      KFRM_DATA_DIR: dataDir,
      KFRM_MOBILE_LISTEN: '127.0.0.1:0',
      KFRM_INTERNAL_LISTEN: '127.0.0.1:0',
      KFRM_MIGRATE_ON_START: 'true',
      LOG_LEVEL: 'silent',
    },
    db: database,
    store,
  });
  options = {
    address: `127.0.0.1:${running.mobilePort}`,
    internalAddress: `127.0.0.1:${running.internalPort}`,
    serverCaPem: await readFile(running.serverCaCertFile),
    depositKrw: 3_000_000n,
    transferKrw: 1_200_000n,
    notificationTimeoutMs: 20_000,
    // As `pnpm demo --ca <data dir>/tls/server-ca.pem` finds them: the local issuer of the data directory.
    operators: await findDemoOperators({ caFile: running.serverCaCertFile }, {}),
    interactive: false,
  };
}, 90_000);

afterAll(async () => {
  await running?.stop();
  await store?.close();
  await baseStore?.close();
  await database?.close();
  await rm(dataDir, { recursive: true, force: true });
});

function capture() {
  let text = '';
  return { out: { isTTY: false, write: (chunk: string) => (text += chunk) }, text: () => text };
}

const krw = (majorAmount: bigint) => ({ currencyCode: CurrencyCode.KRW, majorAmount, minorAmount: 0n });

describe('the app simulator against the embedded backend', () => {
  it('runs every step: two phones, CASA, deposit, a PIN + biometric signed transfer, both notifications and statements', async () => {
    const c = capture();
    const result = await runDemo(options, c.out);
    const text = c.text();
    expect(result.failed, text).toBeUndefined();
    expect(result.ok).toBe(true);
    expect(result.steps).toHaveLength(STEP_COUNT);
    expect(result.steps.every((s) => s.ok)).toBe(true);

    expect(result.alice!.balance).toEqual(krw(1_800_000n));
    expect(result.bob!.balance).toEqual(krw(1_200_000n));
    expect(result.alice!.transactions.map((t) => [t.transactionType, t.amount, t.afterBalance])).toEqual([
      [TransactionType.TRANSFER, krw(1_200_000n), krw(1_800_000n)],
      [TransactionType.DEPOSIT, krw(3_000_000n), krw(3_000_000n)],
    ]);
    expect(result.bob!.transactions.map((t) => [t.transactionType, t.amount, t.afterBalance])).toEqual([
      [TransactionType.DEPOSIT, krw(1_200_000n), krw(1_200_000n)],
    ]);
    // One TRANSFER_SUCCEED each: the sender's and the recipient's.
    expect(result.notifications.alice.map((e) => e.type)).toEqual([NotificationEventType.TRANSFER_SUCCEED]);
    expect(result.notifications.bob.map((e) => e.type)).toEqual([NotificationEventType.TRANSFER_SUCCEED]);
    expect(result.notifications.alice[0]!.id).not.toBe(result.notifications.bob[0]!.id);

    expect(text).toContain('TRANSFER authentication process asks PIN and BIO');
    // The second part: Alice changes her PIN and her phone, gets a signing certificate there,
    // sends money from it and logs out.
    const titles = result.steps.map((s) => s.title);
    for (const name of ['PIN change', 'device change', 'signing certificate', 'transfer from the new phone', 'logout'])
      expect(titles.some((t) => t.includes(name))).toBe(true);
    // The last part: Bob links his bank account, consents in KakaoTalk, tops up and withdraws.
    expect(titles.slice(23).map((t) => ['link account', 'consent', 'top-up', 'withdraw'].find((n) => t.includes(n)))).toEqual([
      'link account',
      'consent',
      'top-up',
      'withdraw',
    ]);
    // 1,200,000 from Alice, 50,000 from her new phone, then +100,000 top-up and -30,000 withdrawal.
    expect(result.bobAfterFunding).toEqual(krw(1_320_000n));
    expect(text).toContain('Bob after his top-up and withdrawal: 1,320,000 KRW');
    expect(text).toContain(`All ${STEP_COUNT} steps succeeded`);
    // Masked account numbers only, and no secrets.
    for (const account of [result.alice!, result.bob!]) expect(text).not.toContain(account.accountNumber);
    for (const secret of ['582916', '690372', '714095', 'Bearer']) expect(text).not.toContain(secret);
  });

  it('runs again against the same backend, and reports a refused step with its gRPC status and seed code', async () => {
    const c = capture();
    // More than was deposited: the pre-check refuses, after every earlier step succeeded with new users.
    const result = await runDemo({ ...options, depositKrw: 10_000n, transferKrw: 20_000n }, c.out);
    expect(result.ok).toBe(false);
    expect(result.failed).toMatchObject({
      title: 'Alice: transfer 20,000 KRW to Bob (pre-check)',
      call: 'TransferService/GetPreCheck',
      error: {
        status: 'FAILED_PRECONDITION',
        statusCode: grpc.status.FAILED_PRECONDITION,
        seedCode: 'GetPreCheckApiError.INSUFFICIENT_BALANCE',
      },
    });
    expect(result.steps.slice(0, -1).every((s) => s.ok)).toBe(true);
    expect(result.steps).toHaveLength(result.failed!.index);
    expect(c.text()).toContain(
      `Step ${result.failed!.index} failed (Alice: transfer 20,000 KRW to Bob (pre-check)) in TransferService/GetPreCheck: gRPC status FAILED_PRECONDITION (9), seed code GetPreCheckApiError.INSUFFICIENT_BALANCE`,
    );
  });

  it('stops at the first step with UNAVAILABLE and a hint when nothing listens at the address', async () => {
    const closed = createServer();
    const port = await new Promise<number>((resolve) =>
      closed.listen(0, '127.0.0.1', () => resolve((closed.address() as { port: number }).port)),
    );
    await new Promise((resolve) => closed.close(resolve));
    const c = capture();
    const result = await runDemo({ ...options, address: `127.0.0.1:${port}` }, c.out);
    expect(result.ok).toBe(false);
    expect(result.steps).toHaveLength(1);
    expect(result.failed).toMatchObject({ index: 1, call: 'DeviceService/CreateDevice', error: { status: 'UNAVAILABLE' } });
    expect(c.text()).toContain(`nothing answered at 127.0.0.1:${port} with that CA: is the backend running`);
  });

  it('exits 0 from the command line when every step succeeds, 1 when one fails, 2 for bad options or an unreadable CA', async () => {
    const args = ['--address', options.address, '--internal-address', options.internalAddress, '--ca', running.serverCaCertFile];
    const writes: string[] = [];
    const write = process.stdout.write;
    // The CLI writes to stdout; keep the test output readable.
    process.stdout.write = ((chunk: string) => writes.push(chunk) > 0) as typeof process.stdout.write;
    try {
      expect(await main(args, {})).toBe(0);
      expect(await main([...args, '--deposit', '1000', '--amount', '2000'], {})).toBe(1);
    } finally {
      process.stdout.write = write;
    }
    expect(writes.join('')).toContain(`All ${STEP_COUNT} steps succeeded`);
    expect(await main(['--amount', 'lots'], {})).toBe(2);
    expect(await main(['--ca', join(dataDir, 'missing.pem')], {})).toBe(2);
  });
});
