/**
 * A local stand-in for Konaplate's Open API, for tests and the embedded default. It checks what
 * the real service checks as far as it is documented: every X-KM-* header (ASP id, access key,
 * Tran-Token HMAC over the exact body bytes, Tran-Time freshness, correlation id format, time
 * zone, crypto key id), decrypts requests and encrypts responses with its own key pair, validates
 * fields, and answers every documented result code for the inputs in test-data.ts. Faults
 * (delay, HTTP status, connection reset, forced result) can be injected for tests.
 */
import { randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '@kfrm/logging';
import { bankName, isListedBankCode } from '../bank-codes';
import { LOGIN_ID_PATTERN, PHONE_NUMBER_PATTERN } from '../member-registration';
import { ARS_CODE_PATTERN, type ArsFailReason } from '../ars-registration';
import { MAX_HISTORY_PAGE_SIZE, MAX_MOVEMENT_AMOUNT, TRAN_ID_PATTERN, type MoneyMovementKind } from '../money-movement';
import { CipherError, decryptCompact, encryptCompact, toPrivateKey, toPublicKey, type KeyMaterial } from '../cipher';
import { newSandboxKeyPair } from './sandbox-key-files';
import { PATHS } from '../konaplate-client';
import {
  HEADER,
  HEADER_LENGTH,
  isCorrelationId,
  isTimeZone,
  parseTimestampDigits,
  parseTranToken,
  verifyTranTokenSignature,
  type KonaplateTimeZone,
  type TranTokenForm,
} from '../headers';
import { maskAccountNumber, maskBirthDate, maskName } from '../log-fields';
import { isJsonObject, JsonNumber, JsonSyntaxError, parseJsonLossless, stringifyJson, type JsonValue } from '../lossless-json';
import { resultCodeInfo, type KonaplateResultCode } from '../result-codes';
import { DEFAULT_BIRTH_DATE_FORM, isBirthDateOnWire, type BirthDateForm } from '../validation';
import {
  SANDBOX_ACCOUNT_DIGITS,
  SANDBOX_EARLIEST_BIRTH_DATE,
  SANDBOX_HOLDERS,
  SANDBOX_MEMBERS,
  SELF_SERVICE_ACCOUNT,
  TRIGGER_ACCOUNTS,
  type SandboxHolder,
  type SandboxRegisteredAccounts,
} from './test-data';

/** A given RSA private key (checked as the cipher checks keys) with its public half. */
function keyPairOf(material: KeyMaterial): { privateKey: KeyObject; publicKey: KeyObject } {
  const privateKey = toPrivateKey(material);
  return { privateKey, publicKey: toPublicKey(privateKey) };
}

export interface KonaplateSandboxOptions {
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  aspId?: string;
  accessKey?: string;
  secretKey?: string;
  cryptoKeyId?: string;
  /** Message encryption as Konaplate's "Data Encryption = Y" projects do it; on by default. */
  encryption?: boolean;
  /**
   * The sandbox's own RSA private key (requests are encrypted to its public half); generated when
   * absent. The embedded default passes one kept in its data directory (sandbox-key-files.ts), so
   * a start does not wait for an RSA prime search.
   */
  serverPrivateKey?: KeyMaterial;
  /** The client's public key for encrypting responses; a pair is generated when neither this nor clientPrivateKey is given. */
  clientPublicKey?: KeyMaterial;
  /**
   * The client's RSA private key, instead of a generated pair: the sandbox encrypts responses to
   * its public half and hands it back in `keys.clientPrivateKey` (for sandboxClientOptions).
   * Exclusive with clientPublicKey.
   */
  clientPrivateKey?: KeyMaterial;
  /** How far X-KM-Tran-Time and the token's time may be from the sandbox clock; 5 minutes. */
  maxClockSkewMs?: number;
  now?: () => Date;
  /** Extra bank accounts for holder verification, beside SANDBOX_HOLDERS. */
  holders?: readonly SandboxHolder[];
  /** Extra members (by member id) with their registered accounts, beside SANDBOX_MEMBERS. */
  members?: Readonly<Record<string, SandboxRegisteredAccounts>>;
  /**
   * The reading of the seeds' disagreements the sandbox enforces (docs/external-apis.md, "Where
   * the seeds disagree"): only this Tran-Token padding and this birthDate form are accepted.
   */
  tranTokenForm?: TranTokenForm;
  birthDateForm?: BirthDateForm;
  /** First member id the registration endpoint issues (then counting up). */
  firstIssuedMemberId?: bigint;
  /** How long an ARS code (and the registration it starts) stays valid; 180 s. */
  arsCodeValidSeconds?: number;
  /**
   * When set, the sandbox's member answers each ARS call this long after it is placed and keys in
   * the right code (demos); otherwise tests answer through `answerArsCall` / `failArsCall`.
   */
  arsAnswerAfterMs?: number;
  logger?: Logger;
}

export interface KonaplateSandboxKeys {
  aspId: string;
  accessKey: string;
  secretKey: string;
  cryptoKeyId: string;
  /** SPKI PEM: the "server key" clients encrypt requests to. */
  serverPublicKey: string;
  /** SPKI PEM of the client key responses are encrypted to. */
  clientPublicKey: string;
  /** PKCS#8 PEM of the client key (generated or given as clientPrivateKey); absent when only its public key was given. */
  clientPrivateKey?: string;
}

export type SandboxFault =
  /** Process the request, then hold the answer back this long (forces client timeouts). */
  | { type: 'delay'; ms: number }
  /** Answer this HTTP status with a non-JSON body, as a failing proxy or server would. */
  | { type: 'status'; status: number; body?: string }
  /** Process the request, then drop the connection without an answer. */
  | { type: 'reset' }
  /** Answer this result code whatever the input (after the header checks). */
  | { type: 'result'; code: string };

export type SandboxEndpoint = keyof typeof PATHS;

export interface SandboxRequestRecord {
  endpoint: SandboxEndpoint | 'other';
  correlationId?: string;
  httpStatus?: number;
  resultCode?: string;
  fault?: SandboxFault['type'];
}

/** A charge or withdrawal as the sandbox recorded it (the "Konaplate side" of reconciliation). */
export interface SandboxMoneyMovement {
  tranId: string;
  kind: MoneyMovementKind;
  userId: string;
  amount: bigint;
  /** SUCCESS: the money moved; FAILED: refused with resultCode, nothing moved. */
  status: 'SUCCESS' | 'FAILED';
  resultCode: string;
  approvalNo: string;
  /** When Konaplate recorded it (the transaction history lists it on this KST day). */
  at: Date;
}

/** An ARS registration as the sandbox holds it (ASSUMED API, ars-registration.ts). */
export interface SandboxArsRegistration {
  regTranId: string;
  userId: string;
  bankCode: string;
  bankAccount: string;
  authCode: string;
  status: 'CODE_ISSUED' | 'CALLING' | 'REGISTERED' | 'FAILED' | 'EXPIRED';
  failReason?: ArsFailReason;
  expiresAt: Date;
  /** ARS calls placed for it (a repeated registration request must not place a second one). */
  calls: number;
}

export interface KonaplateSandbox {
  url: string;
  keys: KonaplateSandboxKeys;
  encryption: boolean;
  /** Requests received, in order (the last 1000): tests count what reached the server. */
  readonly requests: readonly SandboxRequestRecord[];
  injectFault(fault: SandboxFault, options?: { endpoint?: SandboxEndpoint; times?: number }): void;
  clearFaults(): void;
  addHolder(holder: SandboxHolder): void;
  /** Sets a member's accounts (creating the member) directly, as a completed ARS registration would. */
  setRegisteredAccounts(userId: string, accounts: SandboxRegisteredAccounts): void;
  /** Whether Konaplate knows this member id (pre-loaded or registered). */
  hasMember(userId: string): boolean;
  /** Members issued by the registration endpoint, by loginId. */
  readonly registeredMembers: ReadonlyMap<string, { userId: string }>;
  /** Every charge and withdrawal received, by tranId (ASSUMED API, money-movement.ts). */
  readonly moneyMovements: ReadonlyMap<string, SandboxMoneyMovement>;
  /**
   * Rewrites what Konaplate says about a recorded transaction (amount, outcome, when) or, with null,
   * forgets it: reconciliation tests make Konaplate's records disagree with ours this way.
   */
  alterMoneyMovement(
    tranId: string,
    change: Partial<Pick<SandboxMoneyMovement, 'amount' | 'status' | 'resultCode' | 'approvalNo' | 'at'>> | null,
  ): void;
  /**
   * Records a charge or withdrawal Konaplate made that nobody asked for through this API (an
   * operator's manual charge, another system's call): reconciliation must find it in the history.
   */
  recordForeignMovement(movement: {
    userId: string;
    kind: MoneyMovementKind;
    amount: bigint;
    tranId?: string;
    at?: Date;
  }): SandboxMoneyMovement;
  /** ARS registrations by regTranId (tests read the issued code here). */
  readonly arsRegistrations: ReadonlyMap<string, SandboxArsRegistration>;
  /**
   * The member keys `enteredCode` in on the ARS call of a CALLING registration: the right code
   * registers the account as the member's normal top-up account, another fails it (CODE_MISMATCH).
   */
  answerArsCall(regTranId: string, enteredCode: string): SandboxArsRegistration;
  /** The ARS call of a CALLING registration ends without the code (NO_ANSWER, CANCELLED). */
  failArsCall(regTranId: string, reason: Exclude<ArsFailReason, 'CODE_MISMATCH'>): SandboxArsRegistration;
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body: string;
  resultCode?: string;
  cryptoKeyId?: string;
}

/** Refused header authentication: HTTP 401 without a result code (none is documented). */
const UNAUTHORIZED = 'unauthorized';

class Refusal extends Error {
  constructor(
    readonly code: KonaplateResultCode | typeof UNAUTHORIZED,
    readonly detail?: string,
  ) {
    super(code);
  }
}

const MAX_BODY_BYTES = 64 * 1024;
const MAX_RECORDS = 1_000;
const ENDPOINT_BY_PATH = new Map<string, SandboxEndpoint>(
  Object.entries(PATHS).map(([endpoint, path]) => [path, endpoint as SandboxEndpoint]),
);

export async function startKonaplateSandbox(options: KonaplateSandboxOptions = {}): Promise<KonaplateSandbox> {
  const aspId = options.aspId ?? `ASP${randomHex(12)}`.slice(0, HEADER_LENGTH.aspId);
  const accessKey = options.accessKey ?? randomHex(HEADER_LENGTH.accessKey);
  const secretKey = options.secretKey ?? randomBytes(32).toString('base64url');
  const cryptoKeyId = options.cryptoKeyId ?? randomHex(HEADER_LENGTH.cryptoKeyId);
  const encryption = options.encryption ?? true;
  const maxSkewMs = options.maxClockSkewMs ?? 5 * 60_000;
  const now = options.now ?? (() => new Date());
  const log = options.logger;

  if (options.clientPublicKey !== undefined && options.clientPrivateKey !== undefined) {
    throw new Error('clientPublicKey and clientPrivateKey are exclusive: give the client key pair one way');
  }
  // The missing RSA pairs at once: each is a prime search on a worker thread (up to a second or
  // more on a loaded machine). Keys given in the options (the embedded default's, from its data
  // directory) skip that wait.
  const [server, client] = await Promise.all([
    options.serverPrivateKey === undefined ? newSandboxKeyPair() : keyPairOf(options.serverPrivateKey),
    options.clientPublicKey !== undefined
      ? undefined
      : options.clientPrivateKey === undefined
        ? newSandboxKeyPair()
        : keyPairOf(options.clientPrivateKey),
  ]);
  let clientPublic: KeyObject;
  let clientPrivatePem: string | undefined;
  if (client === undefined) {
    clientPublic = toPublicKey(options.clientPublicKey!);
  } else {
    clientPublic = client.publicKey;
    clientPrivatePem = client.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  const holders = new Map<string, SandboxHolder>();
  const addHolder = (holder: SandboxHolder) => holders.set(`${holder.bankCode}:${holder.bankAccount}`, holder);
  for (const holder of [...SANDBOX_HOLDERS, ...(options.holders ?? [])]) addHolder(holder);
  const members = new Map<string, SandboxRegisteredAccounts>(Object.entries({ ...SANDBOX_MEMBERS, ...options.members }));
  const tranTokenForm = options.tranTokenForm ?? 'padded';
  const birthDateForm = options.birthDateForm ?? DEFAULT_BIRTH_DATE_FORM;
  /** loginId → the member issued for it, with the personal data it was registered with. */
  const registrations = new Map<string, { userId: string; userName: string; birthDate: string; phoneNumber: string }>();
  let nextMemberId = options.firstIssuedMemberId ?? 2_000_000_001n;
  const movements = new Map<string, SandboxMoneyMovement>();
  let nextApprovalNo = 1;
  /** `userId:bankCode:bankAccount` of every successful holder verification (ARS needs one first). */
  const verifiedHolders = new Set<string>();
  const arsRegistrations = new Map<string, SandboxArsRegistration>();
  const arsValidMs = (options.arsCodeValidSeconds ?? 180) * 1000;

  const requests: SandboxRequestRecord[] = [];
  const faults: { fault: SandboxFault; endpoint?: SandboxEndpoint; remaining: number }[] = [];
  const timers = new Set<NodeJS.Timeout>();

  function takeFault(endpoint: SandboxEndpoint | 'other'): SandboxFault | undefined {
    const index = faults.findIndex((entry) => entry.remaining > 0 && (entry.endpoint === undefined || entry.endpoint === endpoint));
    if (index < 0) return undefined;
    const entry = faults[index]!;
    entry.remaining -= 1;
    if (entry.remaining === 0) faults.splice(index, 1);
    return entry.fault;
  }

  /** Header checks in the order a gateway would do them: presence, format, authentication. */
  function checkHeaders(req: IncomingMessage, rawBody: Buffer, encryptedEndpoint: boolean): KonaplateTimeZone {
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value[0] : value;
    };
    for (const name of [HEADER.aspId, HEADER.correlationId, HEADER.accessKey, HEADER.tranToken, HEADER.tranTime, HEADER.timeZone]) {
      if (!header(name)) throw new Refusal('000_003', name);
    }
    // Lengths of the seeds' header tables, before anything is compared with our credentials.
    if (header(HEADER.aspId)!.length !== HEADER_LENGTH.aspId) throw new Refusal('000_002', HEADER.aspId);
    if (header(HEADER.accessKey)!.length !== HEADER_LENGTH.accessKey) throw new Refusal('000_002', HEADER.accessKey);
    const sentKeyId = header(HEADER.cryptoKeyId);
    if (sentKeyId !== undefined && sentKeyId.length !== HEADER_LENGTH.cryptoKeyId) throw new Refusal('000_002', HEADER.cryptoKeyId);
    const zone = header(HEADER.timeZone)!;
    if (!isTimeZone(zone)) throw new Refusal('000_002', HEADER.timeZone);
    if (!isCorrelationId(header(HEADER.correlationId)!, zone)) throw new Refusal('000_002', HEADER.correlationId);
    const tranTime = header(HEADER.tranTime)!;
    const tranInstant = /^\d{14}$/.test(tranTime) ? parseTimestampDigits(tranTime, zone) : undefined;
    if (!tranInstant) throw new Refusal('000_002', HEADER.tranTime);

    const token = parseTranToken(header(HEADER.tranToken)!);
    if (!token) throw new Refusal('000_002', HEADER.tranToken);

    if (header(HEADER.aspId) !== aspId || header(HEADER.accessKey) !== accessKey) throw new Refusal(UNAUTHORIZED, 'credentials');
    const clock = now().getTime();
    if (Math.abs(clock - tranInstant.getTime()) > maxSkewMs) throw new Refusal(UNAUTHORIZED, HEADER.tranTime);
    // Only the configured reading of the token's length (66 unpadded / 67 padded).
    if (token.form !== tranTokenForm) throw new Refusal(UNAUTHORIZED, HEADER.tranToken);
    const tokenInstant = parseTimestampDigits(token.timestamp17, zone);
    if (!tokenInstant || Math.abs(clock - tokenInstant.getTime()) > maxSkewMs) throw new Refusal(UNAUTHORIZED, HEADER.tranToken);
    if (!verifyTranTokenSignature(secretKey, rawBody, token)) throw new Refusal(UNAUTHORIZED, HEADER.tranToken);

    const keyId = header(HEADER.cryptoKeyId);
    if (keyId !== undefined && keyId !== cryptoKeyId) throw new Refusal(UNAUTHORIZED, HEADER.cryptoKeyId);
    if (encryption && encryptedEndpoint && keyId === undefined) throw new Refusal('000_003', HEADER.cryptoKeyId);
    return zone;
  }

  async function readPayload(rawBody: Buffer, encryptedRequest: boolean): Promise<{ [key: string]: JsonValue }> {
    let outer: JsonValue;
    try {
      outer = parseJsonLossless(new TextDecoder('utf-8', { fatal: true }).decode(rawBody));
    } catch (err) {
      if (err instanceof JsonSyntaxError || err instanceof TypeError) throw new Refusal('000_002', 'body');
      throw err;
    }
    if (!isJsonObject(outer)) throw new Refusal('000_002', 'body');
    if (!encryptedRequest) return outer;
    const encData = outer.encData;
    if (encData === undefined) throw new Refusal('000_003', 'encData');
    if (typeof encData !== 'string') throw new Refusal('000_002', 'encData');
    let plaintext: string;
    try {
      plaintext = await decryptCompact(encData, server.privateKey, ['RSA-OAEP-256', 'RSA-OAEP'], ['A256GCM', 'A128GCM']);
    } catch (err) {
      if (err instanceof CipherError) throw new Refusal('000_002', 'encData');
      throw err;
    }
    try {
      const inner = parseJsonLossless(plaintext);
      if (!isJsonObject(inner)) throw new Refusal('000_002', 'encData');
      return inner;
    } catch (err) {
      if (err instanceof JsonSyntaxError) throw new Refusal('000_002', 'encData');
      throw err;
    }
  }

  function verifyHolder(payload: { [key: string]: JsonValue }): KonaplateResultCode {
    for (const field of ['userId', 'userName', 'birthDate', 'bankCode', 'bankAccount']) {
      if (payload[field] === undefined || payload[field] === null) throw new Refusal('000_003', field);
    }
    const userId = readUserId(payload.userId);
    const { userName, birthDate, bankCode, bankAccount } = payload;
    if (typeof userName !== 'string' || userName.trim().length === 0 || Array.from(userName).length > 100) {
      throw new Refusal('000_002', 'userName');
    }
    if (typeof birthDate !== 'string' || !isBirthDateOnWire(birthDate, birthDateForm)) throw new Refusal('000_002', 'birthDate');
    if (typeof bankCode !== 'string' || !/^\d{3}$/.test(bankCode)) throw new Refusal('000_002', 'bankCode');
    if (typeof bankAccount !== 'string') throw new Refusal('000_002', 'bankAccount');
    if (!/^\d{1,20}$/.test(bankAccount)) return '002_001';
    if (bankAccount.length < SANDBOX_ACCOUNT_DIGITS.min || bankAccount.length > SANDBOX_ACCOUNT_DIGITS.max) return '002_001';
    if (birthDateForm === 'yyyyMMdd') {
      const today = digitsOfDay(now());
      if (birthDate < SANDBOX_EARLIEST_BIRTH_DATE || birthDate > today) throw new Refusal('000_002', 'birthDate');
    }
    // "User info not found": Konaplate checks its own member first; an id it never issued has none.
    if (!members.has(userId)) return '002_005';

    const triggered = TRIGGER_ACCOUNTS[bankAccount];
    if (triggered) return triggered;
    // A bank outside the seed's table has no account the sandbox could find.
    if (!isListedBankCode(bankCode)) return '002_007';
    if (SELF_SERVICE_ACCOUNT.test(bankAccount) && !holders.has(`${bankCode}:${bankAccount}`) && birthDateForm === 'yyyyMMdd') {
      addHolder({ bankCode, bankAccount, holderName: userName.trim().normalize('NFC'), birthDate });
    }
    const holder = holders.get(`${bankCode}:${bankAccount}`);
    if (!holder) return '002_007';
    const holderBirth = birthDateForm === 'yyMMdd' ? holder.birthDate.slice(2) : holder.birthDate;
    if (holderBirth !== birthDate) return '002_005';
    if (holder.holderName.normalize('NFC') !== userName.trim().normalize('NFC')) return '002_003';
    verifiedHolders.add(`${userId}:${bankCode}:${bankAccount}`);
    return '000_000';
  }

  function inquire(payload: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
    if (payload.userId === undefined || payload.userId === null) throw new Refusal('000_003', 'userId');
    const userId = readUserId(payload.userId);
    const accounts = members.get(userId);
    if (!accounts) throw new Refusal('002_005', 'userId');
    const data: { [key: string]: JsonValue } = {};
    if (accounts.normal) data.bankAccForNormalRcg = accountJson(accounts.normal);
    if (accounts.auto) data.bankAccForAutoRcg = accountJson(accounts.auto);
    data.isAutoRcgAccRegAllowed = accounts.normal !== undefined && accounts.auto === undefined;
    return data;
  }

  /** The ASSUMED registration (member-registration.ts): one member per loginId. */
  function registerMember(payload: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
    for (const field of ['loginId', 'userName', 'birthDate', 'phoneNumber']) {
      if (payload[field] === undefined || payload[field] === null) throw new Refusal('000_003', field);
    }
    const { loginId, userName, birthDate, phoneNumber } = payload;
    if (typeof loginId !== 'string' || !LOGIN_ID_PATTERN.test(loginId)) throw new Refusal('000_002', 'loginId');
    if (typeof userName !== 'string' || userName.trim().length === 0 || Array.from(userName).length > 100) {
      throw new Refusal('000_002', 'userName');
    }
    if (typeof birthDate !== 'string' || !isBirthDateOnWire(birthDate, birthDateForm)) throw new Refusal('000_002', 'birthDate');
    if (typeof phoneNumber !== 'string' || !PHONE_NUMBER_PATTERN.test(phoneNumber)) throw new Refusal('000_002', 'phoneNumber');
    const known = registrations.get(loginId);
    if (known) {
      // A repeat of the same registration answers the same member; other data is not a repeat.
      if (known.userName !== userName || known.birthDate !== birthDate || known.phoneNumber !== phoneNumber) {
        throw new Refusal('000_002', 'loginId');
      }
      return { userId: new JsonNumber(known.userId) };
    }
    const userId = String(nextMemberId++);
    registrations.set(loginId, { userId, userName, birthDate, phoneNumber });
    members.set(userId, {});
    return { userId: new JsonNumber(userId) };
  }

  /** Fields of a charge or withdrawal; refusals as the other endpoints refuse a field. */
  function readMovement(payload: { [key: string]: JsonValue }): { userId: string; tranId: string; amount: bigint } {
    for (const field of ['userId', 'tranId', 'amount']) {
      if (payload[field] === undefined || payload[field] === null) throw new Refusal('000_003', field);
    }
    const userId = readUserId(payload.userId);
    const { tranId, amount } = payload;
    if (typeof tranId !== 'string' || !TRAN_ID_PATTERN.test(tranId)) throw new Refusal('000_002', 'tranId');
    if (!(amount instanceof JsonNumber) || !/^[1-9]\d{0,18}$/.test(amount.raw) || BigInt(amount.raw) > BigInt(MAX_MOVEMENT_AMOUNT)) {
      throw new Refusal('000_002', 'amount');
    }
    return { userId, tranId, amount: BigInt(amount.raw) };
  }

  /**
   * The ASSUMED charge and withdrawal: once per tranId. A repeat with the same fields answers the
   * first result (a refusal again refuses); other fields under the same tranId are not a repeat.
   * A forced result code (fault) is recorded as that transaction's refusal.
   */
  function moveMoney(kind: MoneyMovementKind, payload: { [key: string]: JsonValue }, forced?: string): { [key: string]: JsonValue } {
    const { userId, tranId, amount } = readMovement(payload);
    const known = movements.get(tranId);
    if (known) {
      if (known.kind !== kind || known.userId !== userId || known.amount !== amount) throw new Refusal('000_002', 'tranId');
      if (known.status === 'FAILED') throw new Refusal(known.resultCode as KonaplateResultCode, 'repeat');
      return { tranId, approvalNo: known.approvalNo };
    }
    let refusal: string | undefined = forced;
    if (refusal === undefined) {
      const accounts = members.get(userId);
      if (!accounts) refusal = '002_005';
      else if (!accounts.normal) refusal = '002_007';
      else if (TRIGGER_ACCOUNTS[accounts.normal.bankAccount]) refusal = TRIGGER_ACCOUNTS[accounts.normal.bankAccount];
    }
    const approvalNo = refusal === undefined ? `KP${String(nextApprovalNo++).padStart(12, '0')}` : '';
    movements.set(tranId, {
      tranId,
      kind,
      userId,
      amount,
      status: refusal === undefined ? 'SUCCESS' : 'FAILED',
      resultCode: refusal ?? '000_000',
      approvalNo,
      at: now(),
    });
    if (refusal !== undefined) throw new Refusal(refusal as KonaplateResultCode, 'refused');
    log?.info({ sandbox: 'konaplate', kind, tran_id: tranId, amount: amount.toString() }, 'konaplate sandbox money moved');
    return { tranId, approvalNo };
  }

  function inquireTransaction(payload: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
    for (const field of ['userId', 'tranId']) {
      if (payload[field] === undefined || payload[field] === null) throw new Refusal('000_003', field);
    }
    const userId = readUserId(payload.userId);
    const tranId = payload.tranId;
    if (typeof tranId !== 'string' || !TRAN_ID_PATTERN.test(tranId)) throw new Refusal('000_002', 'tranId');
    const known = movements.get(tranId);
    // Another member's transaction is as unknown as a missing one.
    if (!known || known.userId !== userId) return { tranId, status: 'NOT_FOUND' };
    return {
      tranId,
      tranType: known.kind,
      amount: new JsonNumber(known.amount.toString()),
      status: known.status,
      ...(known.status === 'SUCCESS' ? { approvalNo: known.approvalNo } : { resultCode: known.resultCode }),
    };
  }

  /** 거래내역 확인 (ASSUMED): the member's movements recorded on the KST days asked, oldest first. */
  function listTransactions(payload: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
    for (const field of ['userId', 'fromDate', 'toDate', 'pageNo', 'pageSize']) {
      if (payload[field] === undefined || payload[field] === null) throw new Refusal('000_003', field);
    }
    const userId = readUserId(payload.userId);
    const { fromDate, toDate, pageNo, pageSize } = payload;
    if (typeof fromDate !== 'string' || !/^\d{8}$/.test(fromDate)) throw new Refusal('000_002', 'fromDate');
    if (typeof toDate !== 'string' || !/^\d{8}$/.test(toDate) || toDate < fromDate) throw new Refusal('000_002', 'toDate');
    if (!(pageNo instanceof JsonNumber) || !/^[1-9]\d{0,6}$/.test(pageNo.raw)) throw new Refusal('000_002', 'pageNo');
    if (!(pageSize instanceof JsonNumber) || !/^[1-9]\d{0,2}$/.test(pageSize.raw) || Number(pageSize.raw) > MAX_HISTORY_PAGE_SIZE) {
      throw new Refusal('000_002', 'pageSize');
    }
    if (!members.has(userId)) throw new Refusal('002_005', 'userId');
    const listed = [...movements.values()]
      .filter((m) => m.userId === userId && digitsOfDay(m.at) >= fromDate && digitsOfDay(m.at) <= toDate)
      .sort((a, b) => a.at.getTime() - b.at.getTime() || a.tranId.localeCompare(b.tranId));
    const size = Number(pageSize.raw);
    const page = listed.slice((Number(pageNo.raw) - 1) * size, Number(pageNo.raw) * size);
    return {
      totalCount: new JsonNumber(String(listed.length)),
      transactions: page.map((m) => ({
        tranId: m.tranId,
        tranType: m.kind,
        amount: new JsonNumber(m.amount.toString()),
        status: m.status,
        ...(m.status === 'SUCCESS' ? { approvalNo: m.approvalNo } : { resultCode: m.resultCode }),
        tranDateTime: kstDigits(m.at),
      })),
    };
  }

  /** ARS 인증 전 인증코드 생성 (ASSUMED): a code for an account whose holder was verified for this member. */
  function issueArsCode(payload: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
    for (const field of ['userId', 'regTranId', 'bankCode', 'bankAccount']) {
      if (payload[field] === undefined || payload[field] === null) throw new Refusal('000_003', field);
    }
    const userId = readUserId(payload.userId);
    const { regTranId, bankCode, bankAccount } = payload;
    if (typeof regTranId !== 'string' || !TRAN_ID_PATTERN.test(regTranId)) throw new Refusal('000_002', 'regTranId');
    if (typeof bankCode !== 'string' || !/^\d{3}$/.test(bankCode)) throw new Refusal('000_002', 'bankCode');
    if (typeof bankAccount !== 'string') throw new Refusal('000_002', 'bankAccount');
    if (!/^\d{1,20}$/.test(bankAccount)) throw new Refusal('002_001', 'bankAccount');
    const known = arsRegistrations.get(regTranId);
    if (known) {
      // A repeat answers the same code; another member or account under this id is not a repeat.
      if (known.userId !== userId || known.bankCode !== bankCode || known.bankAccount !== bankAccount)
        throw new Refusal('000_002', 'regTranId');
      return arsCodeJson(known);
    }
    if (!members.has(userId)) throw new Refusal('002_005', 'userId');
    const triggered = TRIGGER_ACCOUNTS[bankAccount];
    if (triggered) throw new Refusal(triggered, 'bankAccount');
    // Registration is the second step of linking: the holder check of this member comes first.
    if (!verifiedHolders.has(`${userId}:${bankCode}:${bankAccount}`)) throw new Refusal('000_002', 'bankAccount');
    const registration: SandboxArsRegistration = {
      regTranId,
      userId,
      bankCode,
      bankAccount,
      authCode: String(randomBytes(1)[0]! % 100).padStart(2, '0'),
      status: 'CODE_ISSUED',
      expiresAt: new Date(now().getTime() + arsValidMs),
      calls: 0,
    };
    arsRegistrations.set(regTranId, registration);
    return arsCodeJson(registration);
  }

  function arsCodeJson(registration: SandboxArsRegistration): { [key: string]: JsonValue } {
    const validSeconds = Math.max(1, Math.ceil((registration.expiresAt.getTime() - now().getTime()) / 1000));
    return { regTranId: registration.regTranId, authCode: registration.authCode, validSeconds: new JsonNumber(String(validSeconds)) };
  }

  /** The caller's registration, expired first when its code ran out; undefined: NOT_FOUND. */
  function currentRegistration(payload: { [key: string]: JsonValue }): SandboxArsRegistration | undefined {
    for (const field of ['userId', 'regTranId']) {
      if (payload[field] === undefined || payload[field] === null) throw new Refusal('000_003', field);
    }
    const userId = readUserId(payload.userId);
    const regTranId = payload.regTranId;
    if (typeof regTranId !== 'string' || !TRAN_ID_PATTERN.test(regTranId)) throw new Refusal('000_002', 'regTranId');
    const registration = arsRegistrations.get(regTranId);
    // Another member's registration is as unknown as a missing one.
    if (!registration || registration.userId !== userId) return undefined;
    if ((registration.status === 'CODE_ISSUED' || registration.status === 'CALLING') && now() > registration.expiresAt) {
      registration.status = 'EXPIRED';
    }
    return registration;
  }

  function registrationJson(
    registration: SandboxArsRegistration | undefined,
    payload: { [key: string]: JsonValue },
  ): { [key: string]: JsonValue } {
    if (!registration) return { regTranId: payload.regTranId as string, status: 'NOT_FOUND' };
    return {
      regTranId: registration.regTranId,
      status: registration.status,
      ...(registration.failReason ? { failReason: registration.failReason } : {}),
    };
  }

  /** PG를 통한 은행 계좌 등록 (ASSUMED): places the ARS call once; a repeat answers the status. */
  function registerBankAccount(payload: { [key: string]: JsonValue }): { [key: string]: JsonValue } {
    const registration = currentRegistration(payload);
    if (registration?.status === 'CODE_ISSUED') {
      registration.status = 'CALLING';
      registration.calls += 1;
      const answerAfter = options.arsAnswerAfterMs;
      if (answerAfter !== undefined && answerAfter > 0) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          if (registration.status === 'CALLING') answerArsCall(registration.regTranId, registration.authCode);
        }, answerAfter);
        timers.add(timer);
      }
    }
    return registrationJson(registration, payload);
  }

  function answerArsCall(regTranId: string, enteredCode: string): SandboxArsRegistration {
    const registration = callingRegistration(regTranId);
    if (!ARS_CODE_PATTERN.test(enteredCode) || enteredCode !== registration.authCode) {
      registration.status = 'FAILED';
      registration.failReason = 'CODE_MISMATCH';
      return registration;
    }
    const holder = holders.get(`${registration.bankCode}:${registration.bankAccount}`);
    if (!holder) throw new Error(`the sandbox bank has no account ${registration.bankCode}:${maskAccountNumber(registration.bankAccount)}`);
    registration.status = 'REGISTERED';
    // The registered account becomes the member's normal top-up account (seed 001's second step).
    members.set(registration.userId, { ...members.get(registration.userId), normal: holder });
    log?.info({ sandbox: 'konaplate', reg_tran_id: regTranId }, 'konaplate sandbox account registered by ARS');
    return registration;
  }

  function callingRegistration(regTranId: string): SandboxArsRegistration {
    const registration = arsRegistrations.get(regTranId);
    if (!registration) throw new Error(`the sandbox has no ARS registration ${regTranId}`);
    if (registration.status === 'CALLING' && now() > registration.expiresAt) registration.status = 'EXPIRED';
    if (registration.status !== 'CALLING') throw new Error(`the ARS registration ${regTranId} is ${registration.status}, not CALLING`);
    return registration;
  }

  async function handle(
    req: IncomingMessage,
    rawBody: Buffer,
    endpoint: SandboxEndpoint,
    record: SandboxRequestRecord,
    forced?: string,
  ): Promise<Reply> {
    const encryptedRequest =
      encryption && (endpoint === 'verifyAccountHolder' || endpoint === 'registerMember' || endpoint === 'issueArsCode');
    const encryptedResponse = encryption && endpoint !== 'verifyAccountHolder';
    const movesMoney = endpoint === 'charge' || endpoint === 'withdraw';
    const keyIdHeader = req.headers[HEADER.cryptoKeyId] as string | undefined;
    try {
      checkHeaders(req, rawBody, encryptedRequest || encryptedResponse);
      // A forced code on a charge or withdrawal is that transaction's recorded refusal.
      if (forced !== undefined && !movesMoney) return resultReply(forced);
      const payload = await readPayload(rawBody, encryptedRequest);
      if (endpoint === 'verifyAccountHolder') {
        const code = verifyHolder(payload);
        logHolder(payload, code, record.correlationId);
        return resultReply(code);
      }
      const answer: Record<Exclude<SandboxEndpoint, 'verifyAccountHolder'>, () => { [key: string]: JsonValue }> = {
        registerMember: () => registerMember(payload),
        charge: () => moveMoney('CHARGE', payload, forced),
        withdraw: () => moveMoney('WITHDRAW', payload, forced),
        inquireTransaction: () => inquireTransaction(payload),
        listTransactions: () => listTransactions(payload),
        inquireBankAccounts: () => inquire(payload),
        issueArsCode: () => issueArsCode(payload),
        registerBankAccount: () => registerBankAccount(payload),
        inquireAccountRegistration: () => registrationJson(currentRegistration(payload), payload),
      };
      const data = answer[endpoint]();
      const plain = stringifyJson({ response: resultJson('000_000'), ...data });
      if (!encryptedResponse) return { status: 200, body: plain, resultCode: '000_000' };
      return {
        status: 200,
        body: stringifyJson({ encData: await encryptCompact(plain, clientPublic) }),
        resultCode: '000_000',
        cryptoKeyId: keyIdHeader,
      };
    } catch (err) {
      if (err instanceof Refusal) return resultReply(err.code, err.detail);
      throw err;
    }
  }

  function logHolder(payload: { [key: string]: JsonValue }, code: string, correlationId?: string) {
    if (!log) return;
    const text = (value: JsonValue | undefined) => (typeof value === 'string' ? value : '');
    log.info(
      {
        sandbox: 'konaplate',
        correlation_id: correlationId,
        result_code: code,
        holder_name: maskName(text(payload.userName)),
        bank_code: text(payload.bankCode),
        bank_account: maskAccountNumber(text(payload.bankAccount)),
        birth: maskBirthDate(text(payload.birthDate)),
      },
      'konaplate sandbox holder verification',
    );
  }

  const httpServer = createServer((req, res) => {
    const endpoint = ENDPOINT_BY_PATH.get((req.url ?? '').split('?')[0] ?? '') ?? 'other';
    const correlationHeader = req.headers[HEADER.correlationId];
    const record: SandboxRequestRecord = { endpoint, correlationId: typeof correlationHeader === 'string' ? correlationHeader : undefined };
    requests.push(record);
    // The embedded default runs for days: keep the recent history only.
    if (requests.length > MAX_RECORDS) requests.splice(0, requests.length - MAX_RECORDS);
    readBody(req)
      .then(async (rawBody) => {
        if (rawBody === undefined) return send(res, record, { status: 413, body: '' });
        if (endpoint === 'other') return send(res, record, { status: 404, body: 'Not Found' });
        if (req.method !== 'POST') return send(res, record, { status: 405, body: '' });
        const fault = takeFault(endpoint);
        if (fault) record.fault = fault.type;
        if (fault?.type === 'status') {
          return send(res, record, { status: fault.status, body: fault.body ?? `<html><body>${fault.status}</body></html>` });
        }
        const reply = await handle(req, rawBody, endpoint, record, fault?.type === 'result' ? fault.code : undefined);
        if (fault?.type === 'reset') {
          record.httpStatus = undefined;
          req.socket.destroy();
          return;
        }
        if (fault?.type === 'delay') {
          const timer = setTimeout(() => {
            timers.delete(timer);
            send(res, record, reply);
          }, fault.ms);
          timers.add(timer);
          return;
        }
        send(res, record, reply);
      })
      .catch((err: unknown) => {
        log?.error({ err }, 'konaplate sandbox failure');
        send(res, record, { status: 500, body: 'Internal Server Error' });
      });
  });

  function send(res: ServerResponse, record: SandboxRequestRecord, reply: Reply) {
    if (res.destroyed || res.headersSent) return;
    record.httpStatus = reply.status;
    record.resultCode = reply.resultCode;
    const headers: Record<string, string> = {
      'content-type': reply.body.startsWith('{') ? 'application/json; charset=UTF-8' : 'text/html',
      'content-length': String(Buffer.byteLength(reply.body)),
    };
    if (record.correlationId && isCorrelationId(record.correlationId)) headers[HEADER.correlationId] = record.correlationId;
    if (reply.cryptoKeyId) headers[HEADER.cryptoKeyId] = reply.cryptoKeyId;
    res.writeHead(reply.status, headers);
    res.end(reply.body);
  }

  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const address = httpServer.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;

  return {
    url: `http://${host}:${address.port}`,
    encryption,
    keys: {
      aspId,
      accessKey,
      secretKey,
      cryptoKeyId,
      serverPublicKey: server.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      clientPublicKey: clientPublic.export({ type: 'spki', format: 'pem' }).toString(),
      ...(clientPrivatePem ? { clientPrivateKey: clientPrivatePem } : {}),
    },
    requests,
    injectFault(fault, faultOptions = {}) {
      faults.push({ fault, endpoint: faultOptions.endpoint, remaining: faultOptions.times ?? 1 });
    },
    clearFaults() {
      faults.length = 0;
    },
    addHolder,
    setRegisteredAccounts(userId, accounts) {
      members.set(userId, accounts);
    },
    hasMember(userId) {
      return members.has(userId);
    },
    registeredMembers: registrations,
    moneyMovements: movements,
    alterMoneyMovement(tranId, change) {
      const known = movements.get(tranId);
      if (!known) throw new Error(`the sandbox has no transaction ${tranId}`);
      if (change === null) movements.delete(tranId);
      else movements.set(tranId, { ...known, ...change });
    },
    recordForeignMovement({ userId, kind, amount, tranId, at }) {
      const id = tranId ?? `FOREIGN${randomHex(20)}`;
      if (movements.has(id)) throw new Error(`the sandbox already has a transaction ${id}`);
      const movement: SandboxMoneyMovement = {
        tranId: id,
        kind,
        userId,
        amount,
        status: 'SUCCESS',
        resultCode: '000_000',
        approvalNo: `KP${String(nextApprovalNo++).padStart(12, '0')}`,
        at: at ?? now(),
      };
      movements.set(id, movement);
      return movement;
    },
    arsRegistrations,
    answerArsCall,
    failArsCall(regTranId, reason) {
      const registration = callingRegistration(regTranId);
      registration.status = 'FAILED';
      registration.failReason = reason;
      return registration;
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      });
    },
  };
}

function resultJson(code: string, detail?: string): { [key: string]: JsonValue } {
  const message = resultCodeInfo(code)?.message ?? 'Unknown result.';
  // Konaplate names the offending parameter after the message ("Invalid input parameter. userId").
  return { code, description: detail ? `${message} ${detail}` : message };
}

function resultReply(code: string, detail?: string): Reply {
  if (code === UNAUTHORIZED) {
    return { status: 401, body: stringifyJson({ response: { description: 'Unauthorized request.' } }) };
  }
  const status = resultCodeInfo(code)?.httpStatus ?? 400;
  return { status, body: stringifyJson({ response: resultJson(code, detail) }), resultCode: code };
}

/** userId is a JSON number: an integer of 1 to 19 digits, read from its exact text. */
function readUserId(value: JsonValue | undefined): string {
  if (!(value instanceof JsonNumber) || !/^[1-9]\d{0,18}$/.test(value.raw)) throw new Refusal('000_002', 'userId');
  return value.raw;
}

function accountJson(holder: SandboxHolder): { [key: string]: JsonValue } {
  return { bankAccount: holder.bankAccount, bankCode: holder.bankCode, bankName: bankName(holder.bankCode) ?? '기타' };
}

/** yyyyMMddHHmmss in KST. */
function kstDigits(at: Date): string {
  return new Date(at.getTime() + 9 * 3_600_000).toISOString().slice(0, 19).replace(/[-T:]/g, '');
}

function digitsOfDay(at: Date): string {
  // The sandbox's "today" is the KST calendar day, as a Korean bank's would be.
  const kst = new Date(at.getTime() + 9 * 3_600_000);
  return kst.toISOString().slice(0, 10).replace(/-/g, '');
}

function randomHex(length: number): string {
  return randomBytes(Math.ceil(length / 2))
    .toString('hex')
    .slice(0, length);
}

function readBody(req: IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_BODY_BYTES) tooLarge = true;
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}
