// CompleteOpening against the real ledger (services/account's module on the internal listener):
// the account it creates has the owner, the name and the default transfer limits, and opening
// twice leaves exactly one account in the ledger. The user service is the fake.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSecretHasher } from '@kfrm/credentials';
import { migrateSchema } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { DomainError } from '@kfrm/errors';
import { createLogger } from '@kfrm/logging';
import { CurrencyCode } from '@kfrm/proto/gen/kfrm/api/common/common';
import {
  GetAccountForOwnerApiError,
  GetAccountForOwnerApiError_ErrorCode,
  LedgerServiceClient,
  type GetAccountForOwnerResponse,
} from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import { startServices, type RunningServices } from '@kfrm/runtime';
import { apiErrorCode } from '@kfrm/server-kit';
import { createMemoryStore } from '@kfrm/store';
import type { ServiceError } from '@grpc/grpc-js';
// The real ledger; imported by path (a test-only need: casa reaches it only over gRPC).
import { createAccountModule } from '../../account/src/account.module';
import { createCasa, type Casa } from './casa';
import { CASA_SCHEMA, type CasaDatabase } from './casa.table';
import { migrations } from './migrations';
import { fakeUserService, readyUser } from './testing/upstreams.fake';
import { grpcLedgerAccounts, grpcUserDirectory } from './upstream';

describe('CASA opening on the real ledger', () => {
  const users = fakeUserService();
  let dataDir: string;
  let database: TestDatabase;
  let running: RunningServices;
  let casa: Casa;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kfrm-casa-ledger-'));
    database = await openTestDatabase();
    await migrateSchema(database, { schema: CASA_SCHEMA, migrations });
    running = await startServices([createAccountModule({ env: {} }), users.module], {
      name: 'casa-ledger-test',
      env: {
        KFRM_DATA_DIR: dataDir,
        KFRM_MOBILE_LISTEN: '127.0.0.1:0',
        KFRM_INTERNAL_LISTEN: '127.0.0.1:0',
        KFRM_MIGRATE_ON_START: 'true',
        LOG_LEVEL: 'silent',
      },
      db: database,
      store: createMemoryStore(),
    });
    casa = createCasa({
      db: database.kysely<CasaDatabase>(CASA_SCHEMA),
      users: grpcUserDirectory(() => running.internalClientsOf('casa').get(UserServiceClient)),
      ledger: grpcLedgerAccounts(() => running.internalClientsOf('casa').get(LedgerServiceClient)),
      hasher: createSecretHasher({ pepper: randomBytes(32) }),
      logger: createLogger({ service: 'casa-test', level: 'silent' }),
    });
  }, 60_000);

  afterAll(async () => {
    await running?.stop();
    await database?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const accountForOwner = (ownerUserId: string, accountNumber: string) =>
    new Promise<GetAccountForOwnerResponse>((resolve, reject) =>
      running
        .internalClientsOf('transfer')
        .get(LedgerServiceClient)
        .getAccountForOwner({ ownerUserId, accountNumber }, (err, res) => (err ? reject(err) : resolve(res))),
    );

  it('creates one ledger account with the owner, name and default limits; twice is CASA_ALREADY_OPENED', async () => {
    const userId = '7000000001';
    users.users.set(userId, readyUser());
    await casa.agreeTerms(
      userId,
      [1n, 2n, 3n].map((termId) => ({ termId, agreed: true })),
    );
    const opened = await casa.completeOpening(userId, '2580');

    const { account } = await accountForOwner(userId, opened.accountNumber);
    expect(account).toMatchObject({
      accountNumber: opened.accountNumber,
      ownerUserId: userId,
      accountName: '입출금통장',
      balance: { currencyCode: CurrencyCode.KRW, majorAmount: 0n, minorAmount: 0n },
      limitPerTransaction: { currencyCode: CurrencyCode.KRW, majorAmount: 5_000_000n, minorAmount: 0n },
      limitPerDay: { currencyCode: CurrencyCode.KRW, majorAmount: 10_000_000n, minorAmount: 0n },
    });

    const again = await casa.completeOpening(userId, '3691').catch((err: unknown) => err);
    expect(again).toBeInstanceOf(DomainError);
    expect((again as DomainError).code).toBe('CASA_ALREADY_OPENED');
    const owned = await database
      .kysely<any>('ledger')
      .selectFrom('accounts')
      .select('account_number')
      .where('owner_user_id', '=', userId)
      .execute();
    expect(owned).toEqual([{ account_number: opened.accountNumber }]);

    // The account is this user's only: for anyone else it does not exist.
    const foreign = (await accountForOwner('7000000002', opened.accountNumber).catch((err: unknown) => err)) as ServiceError;
    expect(apiErrorCode(foreign, GetAccountForOwnerApiError)).toBe(GetAccountForOwnerApiError_ErrorCode.ACCOUNT_NOT_FOUND);
  });
});
