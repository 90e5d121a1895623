// Transfers with the real user service (processes from its seeded policies, PKCS#7 signature
// check, single-use consumption) and the real ledger. The user's signing certificate, which the
// auth service would hold, is given to the user module directly.
import { webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DomainError } from '@kfrm/errors';
import { createLogger } from '@kfrm/logging';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { AuthenticationType } from '@kfrm/proto/gen/kfrm/api/common/common';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { UserServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user';
import {
  ProcessStepServiceClient,
  UserAccountServiceClient,
  type CompleteAuthenticationResponse,
  type RegisterUserResponse,
} from '@kfrm/proto/gen/kfrm/api/user/user_internal';
// Test-only imports by path: the real user service and the PKI helpers the app would use.
import { createUserModule } from '../../user/src/user.module';
import { createCsr, createSigningCa, issueSigningCertificate, parseSigningCsr, signData } from '../../../packages/pki/src/index';
import { signedContent } from './canonical';
import { sandboxInterbankDirectory } from './interbank-directory';
import { OWN_INSTITUTION_CODE } from './institutions';
import { call, startHarness, type Harness } from './testing/transfer.harness';
import { createTransferModule } from './transfer.module';
import { findTransferByProcess } from './transfer.repository';
import { TRANSFER_SCHEMA, type TransferDatabase } from './transfer.table';
import { createTransfers, type PreCheckInput } from './transfers';
import { grpcLedger, grpcUsers, type UserPort } from './upstream';

const certificates = new Map<string, { certificateDer: Uint8Array; issuerDer: Uint8Array }>();
let h: Harness;
let transfers: ReturnType<typeof createTransfers>;
/** The user lookups of their own the transfers made (ADR 0018: none on the way of a transfer). */
const lookups = { findHolder: 0, findUserName: 0 };

beforeAll(async () => {
  const userModule = createUserModule({
    env: {},
    signingCertificates: { getActive: async (userId) => certificates.get(userId.toString()) },
    devices: { revokeDevice: async () => undefined },
  });
  h = await startHarness([createTransferModule({ env: {} })], { userModule });
  const clients = h.running.internalClientsOf('transfer');
  transfers = createTransfers({
    db: h.database.kysely<TransferDatabase>(TRANSFER_SCHEMA),
    ledger: grpcLedger(() => clients.get(LedgerServiceClient)),
    users: counted(
      grpcUsers(
        () => clients.get(UserServiceClient),
        () => clients.get(ProcessStepServiceClient),
      ),
    ),
    interbank: sandboxInterbankDirectory(),
    logger: createLogger({ service: 'transfer-test', level: 'silent' }),
  });
}, 60_000);

afterAll(async () => {
  await h?.close();
});

function counted(users: UserPort): UserPort {
  return {
    ...users,
    findHolder: (userId) => (lookups.findHolder++, users.findHolder(userId)),
    findUserName: (userId) => (lookups.findUserName++, users.findUserName(userId)),
  };
}

let registered = 0;

/** A registered user with a signing certificate; returns what the app holds to sign. */
async function user(userName: string) {
  registered++;
  const accounts = h.running.internalClientsOf('auth').get(UserAccountServiceClient);
  const request = {
    idpType: 'PASS',
    idpName: 'SKT',
    userName,
    phoneNumber: '01012345678',
    userCi: `ci-transfer-${process.pid}-${registered}-${Math.random().toString(36).slice(2)}`,
    deviceId: BigInt(5000 + registered),
    deviceUuid: `uuid-transfer-${registered}`,
  };
  const res = await call<RegisterUserResponse>((cb) => accounts.registerUser(request, cb));
  const userId = res.userId.toString();
  // Registration done: only an ACTIVATED member sends and receives (docs/design.md, "Member and account standing").
  for (const [expectedStatus, newStatus] of [
    [UserStatus.CREATED, UserStatus.AGREED],
    [UserStatus.AGREED, UserStatus.ACTIVATED],
  ] as const) {
    await call<unknown>((cb) =>
      accounts.updateUserStatus({ userId: res.userId, expectedStatus, newStatus, reason: 'registered', unlock: false }, cb),
    );
  }
  const now = new Date();
  const ca = await createSigningCa({ now });
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await parseSigningCsr((await createCsr(keys)).pem);
  const certificate = await issueSigningCertificate({ csr, ca, userId, validityDays: 365, now });
  certificates.set(userId, { certificateDer: certificate.der, issuerDer: new Uint8Array(ca.cert.rawData) });
  const sign = async (bytes: string) =>
    (
      await signData({
        content: new TextEncoder().encode(bytes),
        certificateDer: certificate.der,
        privateKey: keys.privateKey,
        detached: false,
      })
    ).base64;
  return { userId, sign };
}

async function complete(processId: string, userId: string, type: AuthenticationType) {
  const steps = h.running.internalClientsOf('auth').get(ProcessStepServiceClient);
  return call<CompleteAuthenticationResponse>((cb) => steps.completeAuthentication({ processId, userId: BigInt(userId), type }, cb));
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof DomainError) return err.code;
    throw err;
  }
  return 'OK';
}

const internal = (source: string, target: string, amountMinor: bigint): PreCheckInput => ({
  sourceAccountNumber: source,
  targetAccountNumber: target,
  targetInstitutionCode: OWN_INSTITUTION_CODE,
  amountMinor,
  recipientVisibleMessage: '',
  selfVisibleMessage: '',
});

const terms = (input: PreCheckInput) => ({
  sourceAccountNumber: input.sourceAccountNumber,
  targetInstitutionCode: input.targetInstitutionCode,
  targetAccountNumber: input.targetAccountNumber,
  currency: 'KRW' as const,
  amountMinor: input.amountMinor,
});

describe('transfers with the real user service', () => {
  it('executes once with a PKCS#7 signature over the canonical bytes; refuses other bytes, other signers and unfinished processes', async () => {
    const alice = await user('홍길동');
    const bob = await user('김영희');
    const a = await h.openAccount(alice.userId, 2_000_000n);
    const b = await h.openAccount(bob.userId, 0n);
    expect(await transfers.getTargetAccountInfo(OWN_INSTITUTION_CODE, b.accountNumber)).toEqual({
      accountNumber: b.accountNumber,
      holderName: '김*희',
    });

    // Below 1,000,000 KRW the policy asks for biometric, or PIN instead.
    const small = internal(a.accountNumber, b.accountNumber, 30_000n);
    const { process } = await transfers.preCheck(alice.userId, small);
    const bytes = signedContent(process.processId, terms(small));
    const execute = async (signedData: string, userId = alice.userId, amountMinor = small.amountMinor) =>
      transfers.execute(userId, { processId: process.processId, signature: { ...small, signedData, amountMinor } });

    const signed = await alice.sign(bytes);
    expect(await codeOf(execute(signed)), 'not DONE yet').toBe('DIGITAL_SIGNATURE_VERIFICATION_FAILED');
    await complete(process.processId, alice.userId, AuthenticationType.PIN);
    expect(
      await codeOf(execute(await alice.sign(signedContent(process.processId, { ...terms(small), amountMinor: 300_000n })))),
      'other bytes',
    ).toBe('DIGITAL_SIGNATURE_VERIFICATION_FAILED');
    expect(await codeOf(execute(await bob.sign(bytes))), 'another signer').toBe('DIGITAL_SIGNATURE_VERIFICATION_FAILED');
    expect(await codeOf(execute(signed, bob.userId)), "another user's process").toBe('DIGITAL_SIGNATURE_VERIFICATION_FAILED');
    expect(await h.balance(alice.userId, a.accountNumber)).toBe(2_000_000n);

    await execute(signed);
    await execute(signed);
    expect(await h.balance(alice.userId, a.accountNumber)).toBe(1_970_000n);
    expect(await h.balance(bob.userId, b.accountNumber)).toBe(30_000n);
    expect((await findTransferByProcess(h.database.kysely<TransferDatabase>(TRANSFER_SCHEMA), process.processId))!.state).toBe('SUCCEEDED');

    // The signature of this transfer replayed on a new one (same terms) is over another process id.
    const again = await transfers.preCheck(alice.userId, small);
    await complete(again.process.processId, alice.userId, AuthenticationType.PIN);
    expect(
      await codeOf(transfers.execute(alice.userId, { processId: again.process.processId, signature: { ...small, signedData: signed } })),
    ).toBe('DIGITAL_SIGNATURE_VERIFICATION_FAILED');
  });

  it('asks PIN and biometric from 1,000,000 KRW, and runs only once both are done', async () => {
    const alice = await user('남궁민수');
    const bob = await user('이서연');
    const a = await h.openAccount(alice.userId, 5_000_000n);
    const b = await h.openAccount(bob.userId, 0n);
    const large = internal(a.accountNumber, b.accountNumber, 1_000_000n);
    const { process } = await transfers.preCheck(alice.userId, large);
    expect(process.authentications.map((x) => x.type)).toEqual([AuthenticationType.PIN, AuthenticationType.BIO]);
    const signed = await alice.sign(signedContent(process.processId, terms(large)));
    const execute = () => transfers.execute(alice.userId, { processId: process.processId, signature: { ...large, signedData: signed } });
    await complete(process.processId, alice.userId, AuthenticationType.PIN);
    expect(await codeOf(execute())).toBe('DIGITAL_SIGNATURE_VERIFICATION_FAILED');
    await complete(process.processId, alice.userId, AuthenticationType.BIO);
    await Promise.all([execute(), execute(), execute()]);
    expect(await h.balance(alice.userId, a.accountNumber)).toBe(4_000_000n);
    expect(await h.balance(bob.userId, b.accountNumber)).toBe(1_000_000n);
  });

  it("takes the sender's name and the recipient's from the process's creation and the recipient's standing from its consumption (ADRs 0018, 0019)", async () => {
    const alice = await user('박지민');
    const bob = await user('최유리');
    const a = await h.openAccount(alice.userId, 100_000n);
    const b = await h.openAccount(bob.userId, 0n);
    const db = h.database.kysely<TransferDatabase>(TRANSFER_SCHEMA);
    const input = internal(a.accountNumber, b.accountNumber, 5_000n);
    const holderLookups = lookups.findHolder;
    const { process } = await transfers.preCheck(alice.userId, input);
    // Neither the sender's name nor the target's holder (masked name, standing) is a lookup of
    // its own: both come with the process's creation (ADRs 0018, 0019).
    expect(lookups).toEqual({ findHolder: holderLookups, findUserName: 0 });
    expect((await findTransferByProcess(db, process.processId))!.target_holder_name).toBe('최*리');
    await complete(process.processId, alice.userId, AuthenticationType.PIN);
    const signedData = await alice.sign(signedContent(process.processId, terms(input)));
    const execute = () => transfers.execute(alice.userId, { processId: process.processId, signature: { ...input, signedData } });

    const accounts = h.running.internalClientsOf('auth').get(UserAccountServiceClient);
    const status = (expectedStatus: UserStatus, newStatus: UserStatus) =>
      call<unknown>((cb) =>
        accounts.updateUserStatus({ userId: BigInt(bob.userId), expectedStatus, newStatus, reason: 'test', unlock: true }, cb),
      );
    await status(UserStatus.ACTIVATED, UserStatus.BLOCKED);
    expect(await codeOf(execute())).toBe('INVALID_TARGET_ACCOUNT');
    expect((await findTransferByProcess(db, process.processId))!.state).toBe('PENDING');
    await status(UserStatus.BLOCKED, UserStatus.ACTIVATED);
    // The process is this transfer's already: the retry is authorised and reads the standing afresh.
    await execute();
    expect(lookups).toEqual({ findHolder: holderLookups, findUserName: 0 });
    const row = await findTransferByProcess(db, process.processId);
    expect([row!.state, row!.credit_memo]).toEqual(['SUCCEEDED', '박지민']);
    expect(await h.balance(bob.userId, b.accountNumber)).toBe(5_000n);
  });
});
