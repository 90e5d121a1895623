import { X509Certificate, randomBytes, randomInt, randomUUID, sign } from 'node:crypto';
import { OperatorApprovalServiceClient } from '@kfrm/proto/gen/kfrm/api/user/operator_approval_internal';
import { APPROVAL_ID_TRAILER } from '@kfrm/server-kit';
import * as grpc from '@grpc/grpc-js';
import {
  AppClient,
  changeDevice,
  changePin,
  listSessions,
  loginWithPin,
  logout,
  reissueSigningCertificate,
  registerUser,
  transferWithPin,
  unary,
  withSession,
  type RegisteredUser,
  type SigningCredential,
  type UserProfile,
  registerAccountByArs,
} from '@kfrm/app-client';
import { signData } from '@kfrm/pki';
import { operatorTokenInterceptor } from '@kfrm/runtime/operator-credentials';
import type { DemoOperators } from './operator-credentials';
import { AccountServiceClient, ListTransactionsRequest, TransactionType, type Transaction } from '@kfrm/proto/gen/kfrm/api/account/account';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { AuthenticationServiceClient } from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import { CasaOpeningServiceClient, UserStatus } from '@kfrm/proto/gen/kfrm/api/casa/casa';
import {
  Authentication_AuthenticationStatus,
  AuthenticationProcess_ProcessStatus,
  AuthenticationType,
  EncryptedMessage_ProviderType,
  type AuthenticationProcess,
  type MonetaryValue,
} from '@kfrm/proto/gen/kfrm/api/common/common';
import {
  NotificationEventType,
  NotificationServiceClient,
  type NotificationEventResponse,
} from '@kfrm/proto/gen/kfrm/api/notification/notification';
import {
  ConsentState,
  FundingServiceClient,
  ArsVerificationState,
  LinkedAccountState,
  MoneyMovementState,
  type MoneyMovement,
} from '@kfrm/proto/gen/kfrm/api/funding/funding';
import { TransferServiceClient } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { KycStatus } from '@kfrm/proto/gen/kfrm/api/user/user';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { biometricChallenge, canonicalTransferBytes } from './canonical';
import { formatMoney, krw, maskAccountNumber } from './format';
import { Reporter, StepFailedError, type Output, type StepRecord } from './reporter';

const { AUTH } = EncryptedMessage_ProviderType;
/** Our bank's institution code (ListTargetInstitutions lists it first). */
const OWN_INSTITUTION = '333';
/** The steps, in order; the reporter numbers them and draws the progress bar from the count. */
export const STEP_COUNT = 27;
/** Bob's top-up from, and withdrawal to, his linked bank account (the last steps). */
export const TOP_UP_KRW = 100_000n;
export const WITHDRAW_KRW = 30_000n;
/** The linked bank: 신한은행 (seed 001's table). */
const LINKED_BANK_CODE = '088';
/** What Alice sends from her new phone: below the PIN-and-biometric threshold, so her PIN alone (the biometric key stayed on the old phone). */
export const NEW_PHONE_TRANSFER_KRW = 50_000n;

export interface DemoOptions {
  address: string;
  internalAddress: string;
  serverCaPem: string | Buffer;
  depositKrw: bigint;
  transferKrw: bigint;
  notificationTimeoutMs: number;
  /** The operators' tokens (operator-credentials.ts): the operator steps send them as bearer tokens. */
  operators: DemoOperators;
  /** Spinner and colours; default: when the output is a terminal. */
  interactive?: boolean;
}

export interface DemoAccount {
  accountNumber: string;
  balance?: MonetaryValue;
  transactions: Transaction[];
}

export interface DemoResult {
  ok: boolean;
  steps: StepRecord[];
  failed?: StepRecord;
  alice?: DemoAccount;
  bob?: DemoAccount;
  notifications: { alice: NotificationEventResponse[]; bob: NotificationEventResponse[] };
  /** Bob's balance after his top-up and withdrawal (the last steps). */
  bobAfterFunding?: MonetaryValue;
}

/** A person on a phone: the profile they typed, and what the app keeps. */
interface Person {
  label: string;
  profile: UserProfile;
  /** The PIN the person changes to in the PIN change step. */
  newPin: string;
  accountPassword: string;
  app: AppClient;
  user?: RegisteredUser;
  sessionToken?: string;
  accountNumber?: string;
  notifications?: NotificationFeed;
}

const maskPhone = (phone: string) => phone.replace(/^(\d{3})-\d{4}-(\d{4})$/, '$1-****-$2');

/**
 * A phone number that none of this person's secrets repeat: the PIN rules refuse a PIN holding the
 * phone's last four digits (or the four before them), the account-password rules the same for
 * the four-digit password.
 */
function phoneFor(pins: string[], accountPassword: string): string {
  for (;;) {
    const middle = String(randomInt(0, 10_000)).padStart(4, '0');
    const last = String(randomInt(0, 10_000)).padStart(4, '0');
    const clash = pins.some(
      (pin) => [middle, last].some((four) => pin.includes(four) || accountPassword === four) || pin === `${middle.slice(2)}${last}`,
    );
    if (!clash) return `010-${middle}-${last}`;
  }
}

/**
 * Fixed secrets that pass the PIN, pattern and account-password rules for the fixed birth dates
 * (services/auth and services/casa READMEs); names, phones and device uuids are new on every run,
 * so the demo can run any number of times against the same backend.
 */
function people(options: DemoOptions, tag: string): [Person, Person] {
  const make = (label: string, pin: string, newPin: string, pattern: string, accountPassword: string, residentPrefix: string): Person => ({
    label,
    accountPassword,
    newPin,
    app: new AppClient({ address: options.address, serverCaPem: options.serverCaPem }),
    profile: {
      name: `${label} ${tag}`,
      phoneNumber: phoneFor([pin, newPin], accountPassword),
      deviceUuid: randomUUID(),
      pin,
      pattern,
      residentId: `${residentPrefix}${String(randomInt(0, 1_000_000)).padStart(6, '0')}`,
      biometric: true,
    },
  });
  return [make('Alice', '582916', '690372', '14763', '2580', '900327-2'), make('Bob', '714095', '538160', '25418', '3916', '881104-1')];
}

/** A notification stream opened with `last-event-id: 0`: a new user has no events before it, and
 * the server replays stored ones after the id, so an event committed before the stream is live
 * still arrives (services/notification README). */
class NotificationFeed {
  readonly events: NotificationEventResponse[] = [];
  private error: grpc.ServiceError | undefined;
  private closed = false;
  private wake: (() => void) | undefined;
  private readonly call: grpc.ClientReadableStream<NotificationEventResponse>;

  constructor(client: NotificationServiceClient, sessionToken: string) {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${sessionToken}`);
    metadata.set('last-event-id', '0');
    this.call = client.subscribeNotification({}, metadata);
    this.call.on('data', (event: NotificationEventResponse) => {
      this.events.push(event);
      this.wake?.();
    });
    this.call.on('error', (err: grpc.ServiceError) => {
      if (!this.closed) this.error = err;
      this.wake?.();
    });
    this.call.on('end', () => this.wake?.());
  }

  /** The first event of this type, waiting up to timeoutMs; a stream error is thrown as it came. */
  async first(type: NotificationEventType, timeoutMs: number): Promise<NotificationEventResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.find((e) => e.type === type);
      if (found) return found;
      if (this.error) throw this.error;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${NotificationEventType[type]} notification within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  close(): void {
    this.closed = true;
    this.call.cancel();
  }
}

const session = (person: Person) => {
  if (!person.sessionToken) throw new Error(`${person.label} has no session`);
  return withSession(person.sessionToken);
};

const describeProcess = (process: AuthenticationProcess) =>
  process.authentications
    .map(
      (a) =>
        `${AuthenticationType[a.type]}${a.fallback !== AuthenticationType.NONE && a.fallback !== a.type ? ` (or ${AuthenticationType[a.fallback]})` : ''}`,
    )
    .join(' and ') || 'nothing';

const describeTransaction = (t: Transaction) =>
  `${t.transactionDate}  ${(TransactionType[t.transactionType] ?? '?').padEnd(8)} ${formatMoney(t.amount).padStart(16)}  balance ${formatMoney(t.afterBalance).padStart(16)}  ${t.transactionMemo}`;

/**
 * The phone's journey against a running backend, step by step, written to `out`. Never prints
 * PINs, patterns, passwords, tokens or keys; account numbers are masked.
 */
export async function runDemo(options: DemoOptions, out: Output): Promise<DemoResult> {
  const reporter = new Reporter(out, STEP_COUNT, { interactive: options.interactive });
  const tag = randomBytes(3).toString('hex').toUpperCase();
  const [alice, bob] = people(options, tag);
  const result: DemoResult = { ok: false, steps: reporter.records, notifications: { alice: [], bob: [] } };
  // The operator's side: the internal listener (plaintext, never exposed to phones), with the
  // operator's bearer token on every call (docs/operators.md).
  const asOperator = { interceptors: [operatorTokenInterceptor(options.operators.operatorToken)] };
  const ledger = new LedgerServiceClient(options.internalAddress, grpc.credentials.createInsecure(), asOperator);
  const userAccounts = new UserAccountServiceClient(options.internalAddress, grpc.credentials.createInsecure(), asOperator);
  const approvals = new OperatorApprovalServiceClient(options.internalAddress, grpc.credentials.createInsecure(), {
    interceptors: [operatorTokenInterceptor(options.operators.approverToken)],
  });
  out.write(
    `KFRM app simulator · run ${tag}\n  mobile listener ${options.address} (TLS) · internal listener ${options.internalAddress} · ` +
      `deposit ${formatMoney(krw(options.depositKrw))} · transfer ${formatMoney(krw(options.transferKrw))}\n` +
      `  operators: ${options.operators.source}\n`,
  );

  try {
    for (const person of [alice, bob]) {
      await reporter.step(`${person.label}'s phone: device key and certificate`, async (s) => {
        s.send('DeviceService/CreateDevice', 'a new P-256 public key (the private key stays on the phone)');
        const device = await person.app.registerDevice('ec-p256');
        const certificate = new X509Certificate(device.certificateDer);
        s.receive(
          `device id ${device.deviceId}, certificate "${certificate.subject.replace(/\n/g, ', ')}" valid until ${certificate.validTo}`,
        );
        s.note('reconnected with the certificate as the TLS client certificate');
      });
      await reporter.step(`${person.label}'s phone: E2E keys`, async (s) => {
        s.send('KeyService/ListKeys');
        const keys = await person.app.fetchKeys();
        const providers = [...keys.keys()].map((p) => EncryptedMessage_ProviderType[p]).join(', ');
        s.receive(`${keys.size} key session(s): ${providers}; PIN, pattern and biometric key are encrypted to the AUTH key from now on`);
        if (!keys.has(AUTH)) throw new Error('no AUTH key session: secrets cannot be encrypted');
      });
      await reporter.step(`${person.label}: sign-up with PIN and pattern`, async (s) => {
        s.send(
          'RegistrationService (11 calls)',
          `CreateUser "${person.profile.name}", phone ${maskPhone(person.profile.phoneNumber)} (sandbox identity check); terms agreed; ` +
            'PIN and pattern registered and confirmed (E2E-encrypted); biometric key; signing certificate from a CSR, activated with a PKCS#7 signature; customer info; KYC',
        );
        person.user = await registerUser(person.app, person.profile);
        s.receive(`user id ${person.user.userId}, customer id issued, signing certificate active, biometric key registered`);
      });
      await reporter.step(`${person.label}: login with PIN`, async (s) => {
        s.send('LoginService/PrepareLogin → AuthenticationService/AuthenticatePinForLogin → LoginService/Login', 'PIN E2E-encrypted');
        const login = await loginWithPin(person.app, person.user!.userToken, person.profile.pin);
        person.sessionToken = login.sessionToken;
        s.receive(`session for "${login.userInfo?.userName ?? '?'}" until ${login.sessionExpiredAt} (token kept by the app, not shown)`);
      });
    }

    await reporter.step('Operator: KYC review approves Alice and Bob', async (s) => {
      // RegisterKyc leaves the user's KYC REGISTERED; the bank's back office verifies it, and CASA
      // opening waits for VERIFIED. The back-office console (docs/back-office.md) does this with
      // a form; the demo, as an operator tool, calls the same method.
      for (const person of [alice, bob]) {
        s.send(`UserAccountService/UpdateKyc (internal listener)`, `user ${person.user!.userId} → VERIFIED`);
        const updated = await unary(userAccounts, userAccounts.updateKyc, {
          userId: person.user!.userId,
          kycStatus: KycStatus.VERIFIED,
          reason: 'demo: documents reviewed',
          kycData: '',
        });
        s.receive(`${person.label}: KYC ${KycStatus[updated.user?.kycStatus ?? KycStatus.NONE]}`);
      }
    });

    for (const person of [alice, bob]) {
      await reporter.step(`${person.label}: open a CASA account`, async (s) => {
        const casa = person.app.client(CasaOpeningServiceClient);
        s.send('CasaOpeningService/InitiateOpening');
        const { userStatus } = await unary(casa, casa.initiateOpening, {}, session(person));
        s.receive(`user status ${UserStatus[userStatus]}`);
        if (userStatus !== UserStatus.OK) throw new Error(`cannot open an account while the user status is ${UserStatus[userStatus]}`);
        s.send('CasaOpeningService/ListTerms');
        const { terms } = await unary(casa, casa.listTerms, {}, session(person));
        s.receive(`${terms.length} terms: ${terms.map((t) => `${t.name}${t.mandatory ? '' : ' (optional)'}`).join(', ')}`);
        s.send('CasaOpeningService/AgreeTerms', 'every term agreed');
        await unary(casa, casa.agreeTerms, { agreements: terms.map((t) => ({ termId: t.id, agreed: true })) }, session(person));
        s.send('CasaOpeningService/CompleteOpening', 'a four-digit account password (not shown)');
        const opened = await unary(casa, casa.completeOpening, { password: person.accountPassword }, session(person));
        if (!opened.account) throw new Error('CompleteOpening returned no account');
        person.accountNumber = opened.account.accountNumber;
        s.receive(
          `account ${maskAccountNumber(person.accountNumber)}, transfer limit ${formatMoney(opened.account.transferLimit)} per transaction`,
        );
      });
    }

    await reporter.step(`Operator: fund Alice's account`, async (s) => {
      s.send(
        'LedgerService/Deposit (internal listener)',
        `${formatMoney(krw(options.depositKrw))} to ${maskAccountNumber(alice.accountNumber!)} from the external-settlement account`,
      );
      const request = {
        idempotencyKey: `demo-deposit:${alice.accountNumber}`,
        accountNumber: alice.accountNumber!,
        amount: krw(options.depositKrw),
        memo: 'demo funding',
        events: [],
      };
      const approvalId = await unary(ledger, ledger.deposit, request).then(
        (deposited) => {
          s.receive(`entry ${deposited.entryId} posted at ${deposited.postedAt}, balance ${formatMoney(deposited.balanceAfter)}`);
          return undefined;
        },
        (err: grpc.ServiceError) => {
          const id = err.metadata?.get(APPROVAL_ID_TRAILER)[0];
          if (typeof id !== 'string') throw err;
          return id;
        },
      );
      if (approvalId !== undefined) {
        // Above the approval threshold (maker-checker): a second operator approves it, and only then is it posted.
        s.receive(`pending approval ${approvalId}: above the approval threshold, a second operator must approve it`);
        s.send('OperatorApprovalService/Approve (internal listener, a second operator)', `approval ${approvalId}`);
        const { request: approved } = await unary(approvals, approvals.approve, { approvalId });
        if (approved?.outcome !== 'OK') throw new Error(`the approved deposit was refused: ${approved?.outcome ?? 'no outcome'}`);
        s.receive(`approved by ${approved.decidedBy} (not the maker) and posted once`);
      }
    });

    await reporter.step('Both phones: subscribe to notifications', async (s) => {
      for (const person of [alice, bob]) {
        s.send(`NotificationService/SubscribeNotification (${person.label})`, 'server stream, metadata last-event-id: 0');
        person.notifications = new NotificationFeed(person.app.client(NotificationServiceClient), person.sessionToken!);
      }
      s.note('streams stay open in the background; events are read after the transfer');
    });

    const transfers = alice.app.client(TransferServiceClient);
    const amount = krw(options.transferKrw);
    const process = await reporter.step(`Alice: transfer ${formatMoney(amount)} to Bob (pre-check)`, async (s) => {
      s.send('TransferService/GetSourceAccountInfo', maskAccountNumber(alice.accountNumber!));
      const source = await unary(transfers, transfers.getSourceAccountInfo, { accountNumber: alice.accountNumber! }, session(alice));
      s.receive(`${source.accountName}, balance ${formatMoney(source.balance)}`);
      s.send('TransferService/GetTargetAccountInfo', `${maskAccountNumber(bob.accountNumber!)} at ${OWN_INSTITUTION} (our bank)`);
      const target = await unary(
        transfers,
        transfers.getTargetAccountInfo,
        { accountNumber: bob.accountNumber!, institutionCode: OWN_INSTITUTION },
        session(alice),
      );
      s.receive(`holder "${target.accountName}" (masked by the bank)`);
      s.send(
        'TransferService/GetPreCheck',
        `${formatMoney(amount)} ${maskAccountNumber(alice.accountNumber!)} → ${maskAccountNumber(bob.accountNumber!)}`,
      );
      const preCheck = await unary(
        transfers,
        transfers.getPreCheck,
        {
          sourceAccountNumber: alice.accountNumber!,
          targetAccountNumber: bob.accountNumber!,
          targetInstitutionCode: OWN_INSTITUTION,
          amount,
          recipientVisibleMessage: `from Alice ${tag}`,
          selfVisibleMessage: `to Bob ${tag}`,
        },
        session(alice),
      );
      if (!preCheck.success || !preCheck.process) throw new Error('GetPreCheck did not succeed');
      s.receive(`checks passed; TRANSFER authentication process asks ${describeProcess(preCheck.process)}`);
      return preCheck.process;
    });

    await reporter.step('Alice: authenticate the transfer', async (s) => {
      const authentication = alice.app.client(AuthenticationServiceClient);
      let current = process;
      // Each answer is the process as it stands; do the first factor still READY until it is DONE.
      for (let round = 0; current.status !== AuthenticationProcess_ProcessStatus.DONE; round++) {
        const next = current.authentications.find((a) => a.status === Authentication_AuthenticationStatus.READY);
        if (!next || round > current.authentications.length)
          throw new Error(`process ${AuthenticationProcess_ProcessStatus[current.status]} with no factor left to give`);
        if (next.type === AuthenticationType.BIO) {
          const signature = sign('sha256', biometricChallenge(process.processId), alice.user!.biometricKey!.privateKey).toString('base64');
          s.send('AuthenticationService/AuthenticateBiometric', 'signature over kfrm-biometric-v1:<process id> with the biometric key');
          current = (
            await unary(authentication, authentication.authenticateBiometric, { processId: process.processId, signature }, session(alice))
          ).process!;
        } else if (next.type === AuthenticationType.PATTERN) {
          s.send('AuthenticationService/AuthenticatePattern', 'pattern E2E-encrypted');
          current = (
            await alice.app.withEncrypted(AUTH, alice.profile.pattern, (pattern) =>
              unary(authentication, authentication.authenticatePattern, { processId: process.processId, pattern }, session(alice)),
            )
          ).process!;
        } else if (next.type === AuthenticationType.PIN) {
          s.send('AuthenticationService/AuthenticatePin', 'PIN E2E-encrypted');
          current = (
            await alice.app.withEncrypted(AUTH, alice.profile.pin, (pin) =>
              unary(authentication, authentication.authenticatePin, { processId: process.processId, pin }, session(alice)),
            )
          ).process!;
        } else {
          throw new Error(`the process asks for ${AuthenticationType[next.type]}, which the simulator cannot give`);
        }
        s.receive(`process ${AuthenticationProcess_ProcessStatus[current.status]}`);
      }
    });

    await reporter.step('Alice: sign and execute the transfer', async (s) => {
      const signed = {
        processId: process.processId,
        sourceAccountNumber: alice.accountNumber!,
        targetInstitutionCode: OWN_INSTITUTION,
        targetAccountNumber: bob.accountNumber!,
        amountMinor: options.transferKrw,
      };
      const bytes = canonicalTransferBytes(signed);
      const signature = await signData({
        content: bytes,
        certificateDer: alice.user!.signingCertificateDer,
        privateKey: alice.user!.signingKey.privateKey,
        detached: false,
      });
      s.note(`signed the canonical bytes (${bytes.length} bytes of JSON) with Alice's signing certificate: PKCS#7, SHA-256`);
      s.send('TransferService/Execute', `process id, the signature, and the signed accounts and amount`);
      const executed = await unary(
        transfers,
        transfers.execute,
        {
          recipientVisibleMessage: `from Alice ${tag}`,
          selfVisibleMessage: `to Bob ${tag}`,
          authenticationProcessId: process.processId,
          signatureInfo: {
            signedData: signature.base64,
            sourceAccountNumber: signed.sourceAccountNumber,
            targetAccountNumber: signed.targetAccountNumber,
            targetInstitutionCode: signed.targetInstitutionCode,
            amount,
          },
        },
        session(alice),
      );
      if (!executed.success) throw new Error('Execute answered success = false');
      s.receive('success: the ledger posted the transfer');
    });

    await reporter.step('Both phones: the notifications', async (s) => {
      s.waiting('waiting for TRANSFER_SUCCEED on both streams');
      for (const person of [alice, bob]) {
        const event = await person.notifications!.first(NotificationEventType.TRANSFER_SUCCEED, options.notificationTimeoutMs);
        s.receive(`${person.label}: #${event.id} ${NotificationEventType[event.type]} "${event.title}" — ${event.content}`);
      }
    });

    await reporter.step('Both phones: statements and balances', async (s) => {
      for (const person of [alice, bob]) {
        const accounts = person.app.client(AccountServiceClient);
        s.send(`AccountService/ListTransactions + GetAccount (${person.label})`, maskAccountNumber(person.accountNumber!));
        const { transactions } = await unary(
          accounts,
          accounts.listTransactions,
          ListTransactionsRequest.create({ accountNumber: person.accountNumber!, page: 1, pageSize: 20 }),
          session(person),
        );
        const account = await unary(accounts, accounts.getAccount, { accountNumber: person.accountNumber! }, session(person));
        for (const t of transactions) s.receive(describeTransaction(t));
        s.receive(`${person.label}'s balance: ${formatMoney(account.balance)}`);
        result[person === alice ? 'alice' : 'bob'] = { accountNumber: person.accountNumber!, balance: account.balance, transactions };
      }
    });

    // The streams of the first part end here: their events are the result; the old phone's
    // session ends with the device change below anyway.
    for (const person of [alice, bob]) person.notifications?.close();

    await reporter.step('Alice: PIN change', async (s) => {
      s.send('CredentialChangeService/ChangePin', 'the current and the new PIN, each E2E-encrypted');
      await changePin(alice.app, alice.sessionToken!, alice.profile.pin, alice.newPin);
      alice.profile.pin = alice.newPin;
      s.receive('PIN changed; every other session of Alice ended');
    });

    const newPhone = new AppClient({ address: options.address, serverCaPem: options.serverCaPem });
    let newSession = '';
    let credential: SigningCredential | undefined;
    try {
      await reporter.step('Alice: device change to a new phone', async (s) => {
        s.send('DeviceService/CreateDevice', 'the new phone: a new P-256 key');
        const device = await newPhone.registerDevice('ec-p256');
        s.receive(`device id ${device.deviceId}`);
        s.send(
          'DeviceChangeService/PrepareDeviceChange → AuthenticationService/AuthenticatePinForLogin → DeviceChangeService/ChangeDevice',
          'the user token, the new PIN (E2E-encrypted)',
        );
        await changeDevice(newPhone, alice.user!.userToken, alice.profile.pin, randomUUID());
        s.receive("Alice is on the new phone; the old phone's device certificate, sessions and signing certificate are revoked");
        s.send('LoginService/PrepareLogin → AuthenticationService/AuthenticatePinForLogin → LoginService/Login', 'on the new phone');
        newSession = (await loginWithPin(newPhone, alice.user!.userToken, alice.profile.pin)).sessionToken;
        s.receive('session on the new phone');
        const old = await unary(
          alice.app.accountService,
          alice.app.accountService.getAccount,
          { accountNumber: alice.accountNumber! },
          session(alice),
        ).then(
          () => 'answered',
          (err: grpc.ServiceError) => grpc.status[err.code],
        );
        if (old !== 'UNAUTHENTICATED') throw new Error(`the old phone's call answered ${old}, not UNAUTHENTICATED`);
        s.note('the old phone is refused (UNAUTHENTICATED)');
      });

      await reporter.step('Alice: signing certificate on the new phone', async (s) => {
        s.send(
          'SigningCertificateService/PrepareReissueSigningCertificate → AuthenticationService/AuthenticatePin → ReissueSigningCertificate → VerifyReissuedSigningCertificate',
          'PIN step-up, a CSR of a new key, a device-key signature over the process id, a PKCS#7 activation',
        );
        credential = await reissueSigningCertificate(newPhone, newSession, alice.profile.pin);
        const certificate = new X509Certificate(credential.signingCertificateDer);
        s.receive(
          `signing certificate "${certificate.subject.replace(/\n/g, ', ')}" active until ${certificate.validTo}; the old one is revoked`,
        );
      });

      await reporter.step('Alice: transfer from the new phone', async (s) => {
        const amountNew = krw(NEW_PHONE_TRANSFER_KRW);
        s.send(
          'TransferService/GetPreCheck → AuthenticationService/AuthenticatePin → TransferService/Execute',
          `${formatMoney(amountNew)} ${maskAccountNumber(alice.accountNumber!)} → ${maskAccountNumber(bob.accountNumber!)}, signed with the new certificate`,
        );
        const executed = await transferWithPin(newPhone, newSession, {
          sourceAccountNumber: alice.accountNumber!,
          targetAccountNumber: bob.accountNumber!,
          targetInstitutionCode: OWN_INSTITUTION,
          amountKrw: NEW_PHONE_TRANSFER_KRW,
          pin: alice.profile.pin,
          memo: `new phone ${tag}`,
          ...credential!,
        });
        if (!executed.success) throw new Error('Execute answered success = false');
        const account = await unary(
          newPhone.accountService,
          newPhone.accountService.getAccount,
          { accountNumber: alice.accountNumber! },
          withSession(newSession),
        );
        s.receive(`success; Alice's balance ${formatMoney(account.balance)}`);
      });

      await reporter.step('Alice: logout on the new phone', async (s) => {
        s.send('SessionManagementService/ListSessions');
        const sessions = await listSessions(newPhone, newSession);
        s.receive(`${sessions.length} live session(s), ${sessions.filter((x) => x.current).length} of them this one`);
        s.send('SessionManagementService/Logout');
        await logout(newPhone, newSession);
        const after = await listSessions(newPhone, newSession).then(
          () => 'answered',
          (err: grpc.ServiceError) => grpc.status[err.code],
        );
        if (after !== 'UNAUTHENTICATED') throw new Error(`the ended session answered ${after}, not UNAUTHENTICATED`);
        s.receive('logged out: the session token is refused (UNAUTHENTICATED)');
      });
    } finally {
      newPhone.close();
    }

    // Money in and out of Bob's account through his own bank account (funding, Konaplate and
    // kakaoCert; their sandboxes in the embedded default). The account number is a sandbox
    // self-service one (99…): the sandbox bank opens it for Bob at the holder check.
    const funding = bob.app.client(FundingServiceClient);
    const bankAccount = `99${String(randomInt(0, 10_000_000_000)).padStart(10, '0')}`;
    let linkedAccountId = 0n;
    const balanceOf = async (person: Person) =>
      (
        await unary(
          person.app.accountService,
          person.app.accountService.getAccount,
          { accountNumber: person.accountNumber! },
          session(person),
        )
      ).balance;

    await reporter.step(`Bob: link account ${LINKED_BANK_CODE} ${maskAccountNumber(bankAccount)} (holder verification)`, async (s) => {
      s.send(
        'FundingService/VerifyAccountHolder',
        `bank ${LINKED_BANK_CODE}, account ${maskAccountNumber(bankAccount)}; name and birth date from Bob's record`,
      );
      const { linkedAccount } = await unary(
        funding,
        funding.verifyAccountHolder,
        { bankCode: LINKED_BANK_CODE, accountNumber: bankAccount },
        session(bob),
      );
      linkedAccountId = linkedAccount!.linkedAccountId;
      s.receive(
        `linked account #${linkedAccountId}: ${linkedAccount!.account!.bankName} ${linkedAccount!.account!.maskedAccountNumber}, ${LinkedAccountState[linkedAccount!.state]}`,
      );
      // Seed 001's second step: Konaplate registers the account after an ARS call in which Bob
      // keys in the code the app shows (the sandbox's Bob answers by himself).
      s.send('FundingService/StartArsVerification', "Konaplate issues a code and calls Bob's phone");
      const ars = await registerAccountByArs(funding, { bankCode: LINKED_BANK_CODE, accountNumber: bankAccount }, session(bob), {
        pollMs: 500,
        timeoutMs: options.notificationTimeoutMs,
        onCode: (code) => {
          s.receive(`ARS code ${code} shown to Bob`);
          s.waiting('waiting for Bob to key it in on the call (FundingService/GetArsVerification every 0.5 s)');
        },
      });
      s.receive(`ARS ${ArsVerificationState[ars.verification.state]}: registered at Konaplate ${ars.linkedAccount.arsVerifiedAt}`);
    });

    await reporter.step('Bob: auto-debit consent in KakaoTalk (kakaoCert CMS)', async (s) => {
      s.send('FundingService/RequestAutoDebitConsent', "the consent request goes to Bob's KakaoTalk");
      const { consent } = await unary(
        funding,
        funding.requestAutoDebitConsent,
        { bankCode: LINKED_BANK_CODE, accountNumber: bankAccount, expiresInSeconds: 120 },
        session(bob),
      );
      s.receive(`consent ${consent!.consentId} ${ConsentState[consent!.state]}`);
      s.waiting('waiting for the signature (FundingService/GetAutoDebitConsent every second)');
      const deadline = Date.now() + options.notificationTimeoutMs;
      for (;;) {
        const { consent: polled } = await unary(funding, funding.getAutoDebitConsent, { consentId: consent!.consentId }, session(bob));
        if (polled!.state === ConsentState.SIGNED) break;
        if (polled!.state !== ConsentState.REQUESTED) throw new Error(`the consent is ${ConsentState[polled!.state]}`);
        if (Date.now() > deadline) throw new Error(`not signed within ${options.notificationTimeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 1_000));
      }
      s.send('FundingService/ConfirmAutoDebitConsent', 'the signed consent (CMS signedData) is verified and kept as evidence');
      const confirmed = await unary(funding, funding.confirmAutoDebitConsent, { consentId: consent!.consentId }, session(bob));
      s.receive(`consent ${ConsentState[confirmed.consent!.state]}; account ${LinkedAccountState[confirmed.linkedAccount!.state]}`);
    });

    const describeMovement = (m: MoneyMovement | undefined) =>
      `${formatMoney(m!.amount)} ${MoneyMovementState[m!.state]} (movement ${m!.movementId})`;

    await reporter.step(`Bob: top-up ${formatMoney(krw(TOP_UP_KRW))} from the linked account`, async (s) => {
      s.send(
        'FundingService/TopUp',
        `${formatMoney(krw(TOP_UP_KRW))} → ${maskAccountNumber(bob.accountNumber!)}, a new external transaction id`,
      );
      const { topUp } = await unary(
        funding,
        funding.topUp,
        { linkedAccountId, accountNumber: bob.accountNumber!, amount: krw(TOP_UP_KRW), externalTransactionId: `demo-top-up-${tag}` },
        session(bob),
      );
      if (topUp!.state !== MoneyMovementState.SETTLED) throw new Error(`the top-up is ${MoneyMovementState[topUp!.state]}`);
      s.receive(`${describeMovement(topUp)}; Bob's balance ${formatMoney(await balanceOf(bob))}`);
    });

    await reporter.step(`Bob: withdraw ${formatMoney(krw(WITHDRAW_KRW))} to the linked account`, async (s) => {
      s.send(
        'FundingService/Withdraw',
        `${formatMoney(krw(WITHDRAW_KRW))} ${maskAccountNumber(bob.accountNumber!)} → ${maskAccountNumber(bankAccount)}`,
      );
      const { withdrawal } = await unary(
        funding,
        funding.withdraw,
        { linkedAccountId, accountNumber: bob.accountNumber!, amount: krw(WITHDRAW_KRW), externalTransactionId: `demo-withdraw-${tag}` },
        session(bob),
      );
      if (withdrawal!.state !== MoneyMovementState.SETTLED) throw new Error(`the withdrawal is ${MoneyMovementState[withdrawal!.state]}`);
      const balance = await balanceOf(bob);
      s.receive(`${describeMovement(withdrawal)}; Bob's balance ${formatMoney(balance)}`);
      result.bobAfterFunding = balance;
    });
  } catch (err) {
    // A step failure is already reported; anything else is a fault of the simulator itself.
    if (!(err instanceof StepFailedError)) throw err;
  } finally {
    for (const person of [alice, bob]) {
      person.notifications?.close();
      person.app.close();
    }
    ledger.close();
    userAccounts.close();
    approvals.close();
    result.notifications = { alice: alice.notifications?.events ?? [], bob: bob.notifications?.events ?? [] };
  }

  const extra =
    result.alice && result.bob ? [`balances: Alice ${formatMoney(result.alice.balance)}, Bob ${formatMoney(result.bob.balance)}`] : [];
  if (result.bobAfterFunding) extra.push(`Bob after his top-up and withdrawal: ${formatMoney(result.bobAfterFunding)}`);
  result.failed = reporter.records.find((r) => !r.ok);
  if (result.failed?.index === 1 && result.failed.error?.status === 'UNAVAILABLE') {
    extra.push(`nothing answered at ${options.address} with that CA: is the backend running (pnpm start), and is --ca its server CA?`);
  }
  reporter.summary(extra);
  result.ok = reporter.succeeded;
  return result;
}
