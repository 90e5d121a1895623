/**
 * Contract of seeds 001/002 (and the member-registration assumption), one case per documented
 * header, field and result code, under the readings written in docs/external-apis.md ("Where the
 * seeds disagree"). Each field case is run twice: the real client must refuse it before sending,
 * and the sandbox must refuse the same request sent raw (signed and encrypted exactly as the
 * client does) with the seed's code — so neither side can drift from the seeds unnoticed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KonaplateAuthError, KonaplateError, KonaplateValidationError } from './errors';
import { buildSignedHeaders, createCorrelationId, HEADER } from './headers';
import { createKonaplateClient, PATHS, type KonaplateClient, type KonaplateClientOptions } from './konaplate-client';
import { MEMBER_REGISTRATION_PATH } from './member-registration';
import { RESULT_CODES, type KonaplateResultCode } from './result-codes';
import type { AccountHolderVerificationRequest } from './validation';
import { sandboxClientOptions, SANDBOX_HOLDERS, startKonaplateSandbox, TRIGGER_ACCOUNTS, type KonaplateSandbox } from './sandbox';

const HOLDER = SANDBOX_HOLDERS[0]!;
const MEMBER = '1000000001';
const FAST: Partial<KonaplateClientOptions> = { inquiryRetry: { baseDelayMs: 1, maxDelayMs: 2 }, timeoutMs: 5_000 };

let sandbox: KonaplateSandbox;
let client: KonaplateClient;

beforeAll(async () => {
  sandbox = await startKonaplateSandbox({ port: 0 });
  client = createKonaplateClient(sandboxClientOptions(sandbox, FAST));
});
afterAll(() => sandbox.close());

type Json = Record<string, unknown>;

/** The JSON text with userId as a bare number, as the API types it. */
function body(fields: Json): string {
  return JSON.stringify(fields).replace(/"userId":"(\d+)"/, '"userId":$1');
}

async function rawPost(
  path: string,
  payload: string,
  options: { encryptRequest: boolean; headers?: Record<string, string | undefined> },
): Promise<{ status: number; code: string | undefined }> {
  const cipher = sandboxClientOptions(sandbox).cipher!;
  const sent = options.encryptRequest ? JSON.stringify({ encData: await cipher.encrypt(payload) }) : payload;
  const headers = buildSignedHeaders({
    credentials: { aspId: sandbox.keys.aspId, accessKey: sandbox.keys.accessKey, secretKey: sandbox.keys.secretKey },
    body: sent,
    at: new Date(),
    timeZone: 'KST',
    correlationId: createCorrelationId(new Date(), 'KST'),
    cryptoKeyId: sandbox.keys.cryptoKeyId,
  });
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  const response = await fetch(`${sandbox.url}${path}`, { method: 'POST', headers, body: sent });
  let json = (await response.json()) as { response?: { code?: string }; encData?: string };
  if (json.encData) json = JSON.parse(await cipher.decrypt(json.encData));
  return { status: response.status, code: json.response?.code };
}

async function refusal(promise: Promise<unknown>): Promise<KonaplateError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof KonaplateError) return err;
    throw err;
  }
  throw new Error('expected a KonaplateError');
}

const HOLDER_REQUEST: AccountHolderVerificationRequest = {
  userId: MEMBER,
  userName: HOLDER.holderName,
  birthDate: HOLDER.birthDate,
  bankCode: HOLDER.bankCode,
  bankAccount: HOLDER.bankAccount,
};
const VALID_HOLDER = HOLDER_REQUEST as unknown as Json;

describe('request headers (seeds 001/002 header tables)', () => {
  const inquiry = body({ userId: MEMBER });
  const send = (headers: Record<string, string | undefined>) =>
    rawPost(PATHS.inquireBankAccounts, inquiry, { encryptRequest: false, headers });

  it('a correctly signed request is accepted (the baseline every case below changes one thing of)', async () => {
    expect(await send({})).toEqual({ status: 200, code: '000_000' });
  });

  const missing: [string][] = [
    [HEADER.aspId],
    [HEADER.correlationId],
    [HEADER.accessKey],
    [HEADER.tranToken],
    [HEADER.tranTime],
    [HEADER.timeZone],
    // Optional in the table, required while the project encrypts ("Data Encryption = Y").
    [HEADER.cryptoKeyId],
  ];
  it.each(missing)('missing %s → 000_003', async (name) => {
    expect(await send({ [name]: undefined })).toEqual({ status: 400, code: '000_003' });
  });

  const malformed: [string, string, string][] = [
    [HEADER.aspId, 'length 15: 14 characters', 'A'.repeat(14)],
    [HEADER.aspId, 'length 15: 16 characters', 'A'.repeat(16)],
    [HEADER.accessKey, 'length 40: 39 characters', 'a'.repeat(39)],
    [HEADER.cryptoKeyId, 'length 32: 33 characters', 'b'.repeat(33)],
    [HEADER.correlationId, 'yyMMddHHmiSS-xxxxxxx: not hex', '250102120405-abcdefg'],
    [HEADER.correlationId, 'yyMMddHHmiSS-xxxxxxx: no hyphen', '250102120405abc12345'],
    [HEADER.correlationId, 'yyMMddHHmiSS-xxxxxxx: minute 60', '250102126005-abc1234'],
    [HEADER.correlationId, 'length 20: 8 hex characters', '250102120405-abc12345'],
    [HEADER.tranTime, 'YYYYMMDDHHMMSS: 13 digits', '2025010212040'],
    [HEADER.tranTime, 'YYYYMMDDHHMMSS: 16 characters (the other page)', '2025010212040512'],
    [HEADER.tranTime, 'YYYYMMDDHHMMSS: 31 February', '20250231120405'],
    [HEADER.timeZone, 'length 3', 'Asia/Seoul'],
    [HEADER.timeZone, 'a zone we do not send', 'PST'],
    [HEADER.tranToken, 'KMV1:<17 digits>:<base64>', 'KMV2:20250102120405123:AAAA'],
  ];
  it.each(malformed)('%s (%s) → 000_002', async (name, _rule, value) => {
    expect(await send({ [name]: value })).toEqual({ status: 400, code: '000_002' });
  });

  it('X-KM-Tran-Token in the other padding than the configured reading → 401, no result code', async () => {
    const unpadded = createKonaplateClient(sandboxClientOptions(sandbox, { ...FAST, tranTokenForm: 'unpadded' }));
    const err = await refusal(unpadded.inquireBankAccounts({ userId: MEMBER }));
    expect(err).toBeInstanceOf(KonaplateAuthError);
    expect(err.httpStatus).toBe(401);
  });

  it('wrong credentials, stale Tran-Time or wrong HMAC → HTTP 401 without an invented result code', async () => {
    expect(await send({ [HEADER.accessKey]: 'x'.repeat(40) })).toEqual({ status: 401, code: undefined });
    expect(await send({ [HEADER.cryptoKeyId]: 'y'.repeat(32) })).toEqual({ status: 401, code: undefined });
    const wrongSecret = createKonaplateClient(sandboxClientOptions(sandbox, { ...FAST, secretKey: 'not-the-secret' }));
    const err = await refusal(wrongSecret.inquireBankAccounts({ userId: MEMBER }));
    expect(err).toMatchObject({ kind: 'unauthorized', httpStatus: 401, code: 'HTTP_STATUS' });
  });
});

describe('holder verification fields (seed 001)', () => {
  const cases: [field: string, rule: string, code: KonaplateResultCode, value: unknown][] = [
    ['userId', 'required', '000_003', undefined],
    ['userId', 'a number, not a string', '000_002', `"${MEMBER}"`],
    ['userId', 'min 1', '000_002', '0'],
    ['userId', 'max 9999999999999999999', '000_002', '10000000000000000000'],
    ['userName', 'required', '000_003', undefined],
    ['userName', 'min 1', '000_002', ''],
    ['userName', 'max 100', '000_002', '가'.repeat(101)],
    ['birthDate', 'required', '000_003', undefined],
    ['birthDate', 'yyyyMMdd (our reading): 6 digits refused', '000_002', '800101'],
    ['birthDate', 'yyyyMMdd: a real date', '000_002', '19800231'],
    ['bankCode', 'required', '000_003', undefined],
    ['bankCode', 'length 3: 2 digits', '000_002', '88'],
    ['bankCode', 'length 3: 4 digits', '000_002', '0088'],
    ['bankAccount', 'required', '000_003', undefined],
    ['bankAccount', 'max 20', '002_001', '1'.repeat(21)],
    ['bankAccount', 'digits only', '002_001', '110-234-567890'],
  ];

  it.each(cases)('%s (%s) → %s from the sandbox; the client never sends it', async (field, _rule, code, value) => {
    const fields: Json = { ...VALID_HOLDER };
    if (value === undefined) delete fields[field];
    else fields[field] = value;
    let text = body(fields);
    // userId variants are written raw (a string, or numbers past the safe range).
    if (field === 'userId' && value !== undefined) text = text.replace(/"userId":"?[^,}]*"?/, `"userId":${String(value)}`);
    expect(await rawPost(PATHS.verifyAccountHolder, text, { encryptRequest: true })).toEqual({ status: 400, code });

    // A missing field cannot be expressed through the client's types, and "a number, not a
    // string" is about the wire form only: the client always writes userId as a number.
    if (value === undefined || String(value).startsWith('"')) return;
    const err = await refusal(client.verifyAccountHolder({ ...HOLDER_REQUEST, [field]: String(value) }));
    expect(err).toBeInstanceOf(KonaplateValidationError);
    expect((err as KonaplateValidationError).issues.map((issue) => issue.field)).toContain(field);
  });

  it('a userId Konaplate never issued → 002_005 (User info not found)', async () => {
    const err = await refusal(client.verifyAccountHolder({ ...HOLDER_REQUEST, userId: '1234567' }));
    expect(err).toMatchObject({ code: '002_005', kind: 'holder_not_found' });
  });

  const codes = Object.entries(TRIGGER_ACCOUNTS) as [string, KonaplateResultCode][];
  it.each(codes)('account %s → %s through the real client', async (bankAccount, code) => {
    const err = await refusal(client.verifyAccountHolder({ ...HOLDER_REQUEST, bankAccount }));
    expect(err).toMatchObject({ code, kind: RESULT_CODES[code].kind, httpStatus: 400 });
  });

  it('every code the package knows is in the seeds, or is a documented common code (000_002, 000_003)', () => {
    const seedCodes = ['000_000', '002_001', '002_002', '002_003', '002_004', '002_005', '002_006', '002_007', '002_008', '002_009'];
    const common = ['000_002', '000_003'];
    expect(Object.keys(RESULT_CODES).sort()).toEqual([...seedCodes, ...common].sort());
    // Every seed error code of 001 has a trigger in the sandbox.
    expect(new Set(codes.map(([, code]) => code))).toEqual(new Set(['002_002', '002_004', '002_006', '002_008', '002_009']));
  });
});

describe('registered-accounts inquiry fields (seed 002)', () => {
  const cases: [rule: string, code: KonaplateResultCode, payload: string][] = [
    ['userId required', '000_003', '{}'],
    ['userId a number', '000_002', `{"userId":"${MEMBER}"}`],
    ['userId min 1', '000_002', '{"userId":0}'],
    ['userId an integer', '000_002', '{"userId":1.5}'],
    ['userId a member Konaplate issued', '002_005', '{"userId":1234567}'],
  ];
  it.each(cases)('%s → %s', async (_rule, code, payload) => {
    expect(await rawPost(PATHS.inquireBankAccounts, payload, { encryptRequest: false })).toEqual({ status: 400, code });
  });
});

describe('member registration (ASSUMED API, see member-registration.ts)', () => {
  const VALID_MEMBER: Json = {
    loginId: 'kfrm0123456789abcdef0123456789ab',
    userName: '홍길동',
    birthDate: '19800101',
    phoneNumber: '01012345678',
  };
  const cases: [field: string, value: unknown, code: KonaplateResultCode][] = [
    ['loginId', undefined, '000_003'],
    ['loginId', 'short', '000_002'],
    ['loginId', 'has space 0123456789', '000_002'],
    ['userName', undefined, '000_003'],
    ['userName', '', '000_002'],
    ['birthDate', undefined, '000_003'],
    ['birthDate', '800101', '000_002'],
    ['phoneNumber', undefined, '000_003'],
    ['phoneNumber', '010-1234-5678', '000_002'],
  ];
  it.each(cases)('%s = %j → %s', async (field, value, code) => {
    const fields: Json = { ...VALID_MEMBER, loginId: `kfrm${Date.now()}${Math.random().toString(16).slice(2, 10)}` };
    if (value === undefined) delete fields[field];
    else fields[field] = value;
    expect(await rawPost(MEMBER_REGISTRATION_PATH, JSON.stringify(fields), { encryptRequest: true })).toEqual({ status: 400, code });
  });

  it('issues a member id the other calls then know; the same loginId again gets the same member', async () => {
    const loginId = `kfrm${Math.random().toString(16).slice(2, 14)}contract`;
    const request = { loginId, userName: HOLDER.holderName, birthDate: HOLDER.birthDate, phoneNumber: '01012345678' };
    const first = await client.registerMember(request);
    expect(first.userId).toMatch(/^[1-9]\d{0,18}$/);
    expect((await client.registerMember(request)).userId).toBe(first.userId);
    expect((await client.verifyAccountHolder({ ...HOLDER_REQUEST, userId: first.userId })).verified).toBe(true);
    expect((await client.inquireBankAccounts({ userId: first.userId })).isAutoRcgAccRegAllowed).toBe(false);
    // The same loginId with other personal data is not the same registration.
    expect(await refusal(client.registerMember({ ...request, phoneNumber: '01099998888' }))).toMatchObject({ code: '000_002' });
  });
});

describe('the other reading of a disagreement is one setting on both sides', () => {
  it('birthDate yyMMdd (the "length 6" reading): a client and a sandbox both switched agree', async () => {
    const six = await startKonaplateSandbox({ port: 0, birthDateForm: 'yyMMdd' });
    try {
      const sixClient = createKonaplateClient(sandboxClientOptions(six, { ...FAST, birthDateForm: 'yyMMdd' }));
      // The caller still gives yyyyMMdd; the client writes the switched wire form.
      expect((await sixClient.verifyAccountHolder(HOLDER_REQUEST)).verified).toBe(true);
      expect(six.requests.at(-1)).toMatchObject({ resultCode: '000_000' });
      // The default client (8 digits) against that sandbox: refused, so drift cannot pass unseen.
      const eight = createKonaplateClient(sandboxClientOptions(six, FAST));
      expect(await refusal(eight.verifyAccountHolder(HOLDER_REQUEST))).toMatchObject({ code: '000_002' });
    } finally {
      await six.close();
    }
  });

  it('Tran-Token unpadded (the "length 66" reading): a client and a sandbox both switched agree', async () => {
    const unpaddedSandbox = await startKonaplateSandbox({ port: 0, tranTokenForm: 'unpadded' });
    try {
      const unpadded = createKonaplateClient(sandboxClientOptions(unpaddedSandbox, { ...FAST, tranTokenForm: 'unpadded' }));
      expect((await unpadded.inquireBankAccounts({ userId: MEMBER })).isAutoRcgAccRegAllowed).toBe(true);
      const padded = createKonaplateClient(sandboxClientOptions(unpaddedSandbox, FAST));
      expect(await refusal(padded.inquireBankAccounts({ userId: MEMBER }))).toBeInstanceOf(KonaplateAuthError);
    } finally {
      await unpaddedSandbox.close();
    }
  });
});
