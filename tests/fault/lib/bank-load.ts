// Phones that make full transfers as the app does (GetPreCheck, AuthenticatePin, a PKCS#7
// signature, Execute retried with the same process and signature until it answers), each with a
// notification stream that resumes from `last-event-id`, and a record of every answer they saw.
import { operatorTokenInterceptor } from '@kfrm/runtime';
import * as grpc from '@grpc/grpc-js';
import { authenticatePin, unary } from '@kfrm/app-client';
import { signData } from '@kfrm/pki';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { NotificationServiceClient, type NotificationEventResponse } from '@kfrm/proto/gen/kfrm/api/notification/notification';
import { TransferServiceClient } from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import { UserAccountServiceClient } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { type Customer, krw, openCustomer, PIN } from '../../lib/bank-customer';
import { sleep } from './free-port';

const OWN_INSTITUTION = '333';
export const FUNDING_KRW = 1_000_000n;
export const AMOUNT_KRW = 1_000n;

/** The canonical bytes the app signs (docs/transfer-signing.md). */
function canonicalBytes(processId: string, source: string, target: string, amountMinor: bigint): Uint8Array {
  return new TextEncoder().encode(
    JSON.stringify({
      v: 1,
      process_id: processId,
      source_account_number: source,
      target_institution_code: OWN_INSTITUTION,
      target_account_number: target,
      currency: 'KRW',
      amount_minor: amountMinor.toString(),
    }),
  );
}

/** A gRPC status name, or the error's message when it is not a gRPC error. */
export function answerOf(err: unknown): string {
  const code = (err as grpc.ServiceError)?.code;
  return typeof code === 'number' ? grpc.status[code]! : `client error: ${(err as Error)?.message ?? String(err)}`;
}

/** Answers after which the app tries again: the server could not decide (outage, restart). */
const RETRYABLE = new Set(['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'ABORTED', 'RESOURCE_EXHAUSTED', 'CANCELLED', 'UNKNOWN', 'INTERNAL']);

export interface Phone extends Customer {
  index: number;
}

/** A customer of the fault test (tests/lib/bank-customer.ts), with its operator clients closed after. */
export async function setUpPhone(
  index: number,
  address: string,
  serverCaPem: Buffer,
  internalAddress: string,
  /** A token with the teller and kyc-reviewer roles (docs/operators.md). */
  operatorToken: string,
  /** How to reach the internal listener: plaintext by default; TLS where it has service identity (the benchmarks' backend). */
  internalCredentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
): Promise<Phone> {
  const operator = { interceptors: [operatorTokenInterceptor(operatorToken)] };
  const ledger = new LedgerServiceClient(internalAddress, internalCredentials, operator);
  const userAccounts = new UserAccountServiceClient(internalAddress, internalCredentials, operator);
  try {
    const customer = await openCustomer({
      label: `Fault User ${index}`,
      address,
      serverCaPem,
      fundingKrw: FUNDING_KRW,
      operator: { ledger, userAccounts },
    });
    return { index, ...customer };
  } finally {
    ledger.close();
    userAccounts.close();
  }
}

/** One transfer's end as the phone saw it. */
export interface TransferOutcome {
  processId: string;
  from: string;
  to: string;
  /** 'OK', or the seed error code / status of a refusal the app takes as final. */
  answer: string;
  at: number;
}

/** Every answer the phones saw, by moment, for the per-fault report. */
export interface SeenAnswer {
  at: number;
  step: 'GetPreCheck' | 'AuthenticatePin' | 'Execute';
  answer: string;
}

export class TransferLoad {
  readonly outcomes: TransferOutcome[] = [];
  readonly answers: SeenAnswer[] = [];
  /** Execute calls that never reached a final answer (the process was given up on). */
  readonly unresolved: string[] = [];
  private stopped = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly phones: Phone[],
    private readonly options: { executeGiveUpMs: number; pauseMs: number },
  ) {}

  start(): void {
    this.loops = this.phones.map((phone, i) => this.loop(phone, this.phones[(i + 1) % this.phones.length]!));
  }

  /** Lets each phone finish the transfer it is in (Execute until answered), then returns. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }

  /** The first success whose Execute answered after `since` (performance.now()). */
  firstSuccessAfter(since: number): TransferOutcome | undefined {
    return this.outcomes.find((o) => o.answer === 'OK' && o.at >= since);
  }

  private see(step: SeenAnswer['step'], answer: string): void {
    this.answers.push({ at: performance.now(), step, answer });
  }

  private async loop(phone: Phone, target: Phone): Promise<void> {
    const transfers = phone.app.client(TransferServiceClient);
    while (!this.stopped) {
      let processId: string;
      try {
        const preCheck = await unary(
          transfers,
          transfers.getPreCheck,
          {
            sourceAccountNumber: phone.accountNumber,
            targetAccountNumber: target.accountNumber,
            targetInstitutionCode: OWN_INSTITUTION,
            amount: krw(AMOUNT_KRW),
            recipientVisibleMessage: 'fault',
            selfVisibleMessage: 'fault',
          },
          { ...phone.session, deadlineMs: 5_000 },
        );
        if (!preCheck.success || !preCheck.process?.processId) throw new Error('GetPreCheck did not succeed');
        processId = preCheck.process.processId;
        this.see('GetPreCheck', 'OK');
      } catch (err) {
        this.see('GetPreCheck', answerOf(err));
        await sleep(this.options.pauseMs);
        continue;
      }
      try {
        await authenticatePin(phone.app, processId, PIN, { ...phone.session });
        this.see('AuthenticatePin', 'OK');
      } catch (err) {
        this.see('AuthenticatePin', answerOf(err));
        await sleep(this.options.pauseMs);
        continue;
      }
      const signature = await signData({
        content: canonicalBytes(processId, phone.accountNumber, target.accountNumber, AMOUNT_KRW),
        certificateDer: phone.user.signingCertificateDer,
        privateKey: phone.user.signingKey.privateKey,
        detached: false,
      });
      const request = {
        recipientVisibleMessage: 'fault',
        selfVisibleMessage: 'fault',
        authenticationProcessId: processId,
        signatureInfo: {
          signedData: signature.base64,
          sourceAccountNumber: phone.accountNumber,
          targetAccountNumber: target.accountNumber,
          targetInstitutionCode: OWN_INSTITUTION,
          amount: krw(AMOUNT_KRW),
        },
      };
      // The app keeps the process and the signature and asks again until the server decides.
      const giveUpAt = performance.now() + this.options.executeGiveUpMs;
      for (;;) {
        try {
          const executed = await unary(transfers, transfers.execute, request, { ...phone.session, deadlineMs: 5_000 });
          this.see('Execute', 'OK');
          this.outcomes.push({
            processId,
            from: phone.accountNumber,
            to: target.accountNumber,
            answer: executed.success ? 'OK' : 'success=false',
            at: performance.now(),
          });
          break;
        } catch (err) {
          const answer = answerOf(err);
          this.see('Execute', answer);
          if (!RETRYABLE.has(answer)) {
            this.outcomes.push({ processId, from: phone.accountNumber, to: target.accountNumber, answer, at: performance.now() });
            break;
          }
          if (performance.now() > giveUpAt) {
            this.unresolved.push(processId);
            break;
          }
          await sleep(this.options.pauseMs);
        }
      }
    }
  }
}

/**
 * A notification stream held open as the app holds it: opened with `last-event-id`, and on any
 * end or error opened again from the last id received. Records every id it was given.
 */
export class NotificationWatcher {
  readonly received: bigint[] = [];
  readonly duplicates: bigint[] = [];
  readonly ends: string[] = [];
  private readonly seen = new Set<bigint>();
  private call: grpc.ClientReadableStream<NotificationEventResponse> | undefined;
  private closed = false;
  private lastId = 0n;

  constructor(private readonly phone: Phone) {}

  open(): void {
    if (this.closed) return;
    const client = this.phone.app.client(NotificationServiceClient);
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${this.phone.sessionToken}`);
    metadata.set('last-event-id', this.lastId.toString());
    const call = client.subscribeNotification({}, metadata);
    this.call = call;
    call.on('data', (event: NotificationEventResponse) => {
      const id = BigInt(event.id);
      if (this.seen.has(id)) this.duplicates.push(id);
      this.seen.add(id);
      this.received.push(id);
      if (id > this.lastId) this.lastId = id;
    });
    let reopened = false;
    const reopen = (why: string) => {
      if (reopened || this.closed) return;
      reopened = true;
      this.ends.push(why);
      setTimeout(() => this.open(), 200);
    };
    call.on('error', (err: grpc.ServiceError) => reopen(answerOf(err)));
    call.on('end', () => reopen('end'));
  }

  has(id: bigint): boolean {
    return this.seen.has(id);
  }

  close(): void {
    this.closed = true;
    this.call?.cancel();
  }
}
