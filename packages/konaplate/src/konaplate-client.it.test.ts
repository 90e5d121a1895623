/**
 * The real client against the sandbox over HTTP on 127.0.0.1.
 */
import { createLogger, createCapturingDestination } from '@kfrm/logging';
import { generateKeyPairSync } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJweFieldCipher } from './cipher';
import {
  KonaplateAccountNotFoundError,
  KonaplateAccountNotUsableError,
  KonaplateAuthError,
  KonaplateBankUnavailableError,
  KonaplateError,
  KonaplateHolderNotFoundError,
  KonaplateInvalidAccountError,
  KonaplateInvalidRequestError,
  KonaplateNameMismatchError,
  KonaplateNetworkError,
  KonaplateProtocolError,
  KonaplateServerError,
  KonaplateUnknownCodeError,
  KonaplateValidationError,
  OutcomeUnknownError,
} from './errors';
import { buildSignedHeaders, createCorrelationId, HEADER } from './headers';
import { createKonaplateClient, PATHS, type KonaplateClient, type KonaplateClientOptions } from './konaplate-client';
import { RESULT_CODES, type KonaplateResultCode } from './result-codes';
import { sandboxClientOptions, SANDBOX_HOLDERS, startKonaplateSandbox, type KonaplateSandbox } from './sandbox';
import type { AccountHolderVerificationRequest } from './validation';

const HOLDER = SANDBOX_HOLDERS[0]!;
const VALID: AccountHolderVerificationRequest = {
  userId: '1000000001',
  userName: HOLDER.holderName,
  birthDate: HOLDER.birthDate,
  bankCode: HOLDER.bankCode,
  bankAccount: HOLDER.bankAccount,
};

// Fast retries: the tests assert what happens, never how long it takes.
const FAST: Partial<KonaplateClientOptions> = { inquiryRetry: { baseDelayMs: 1, maxDelayMs: 2 }, timeoutMs: 5_000 };

let sandbox: KonaplateSandbox;
let client: KonaplateClient;

beforeAll(async () => {
  sandbox = await startKonaplateSandbox({ port: 0 });
  client = createKonaplateClient(sandboxClientOptions(sandbox, FAST));
});
afterAll(() => sandbox.close());
afterEach(() => sandbox.clearFaults());

async function failure(promise: Promise<unknown>): Promise<KonaplateError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof KonaplateError) return err;
    throw err;
  }
  throw new Error('expected a KonaplateError');
}

/** A request signed exactly as the client signs, for what the client would never send. */
async function rawPost(path: string, body: string, headerChanges: Record<string, string | undefined> = {}) {
  const headers: Record<string, string> = buildSignedHeaders({
    credentials: { aspId: sandbox.keys.aspId, accessKey: sandbox.keys.accessKey, secretKey: sandbox.keys.secretKey },
    body,
    at: new Date(),
    timeZone: 'KST',
    correlationId: createCorrelationId(new Date(), 'KST'),
    cryptoKeyId: sandbox.keys.cryptoKeyId,
  });
  for (const [name, value] of Object.entries(headerChanges)) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  const response = await fetch(`${sandbox.url}${path}`, { method: 'POST', headers, body });
  let json = (await response.json()) as { response: { code: string; description: string }; encData?: string };
  if (json.encData) json = JSON.parse(await sandboxClientOptions(sandbox).cipher!.decrypt(json.encData));
  return { status: response.status, code: json.response.code, description: json.response.description };
}

function encryptForSandbox(plaintext: string): Promise<string> {
  return sandboxClientOptions(sandbox).cipher!.encrypt(plaintext);
}

describe('holder verification: every documented result code', () => {
  const cases: [KonaplateResultCode, Partial<AccountHolderVerificationRequest>, new (...args: never[]) => KonaplateError][] = [
    ['002_001', { bankAccount: '12345678901234567' }, KonaplateInvalidAccountError],
    ['002_002', { bankAccount: '9000000002' }, KonaplateBankUnavailableError],
    ['002_003', { userName: '홍길순' }, KonaplateNameMismatchError],
    ['002_004', { bankAccount: '9000000004' }, KonaplateBankUnavailableError],
    ['002_005', { birthDate: '19800102' }, KonaplateHolderNotFoundError],
    ['002_006', { bankAccount: '9000000006' }, KonaplateBankUnavailableError],
    ['002_007', { bankAccount: '1234567890' }, KonaplateAccountNotFoundError],
    ['002_008', { bankAccount: '9000000008' }, KonaplateAccountNotUsableError],
    ['002_009', { bankAccount: '9000000009' }, KonaplateAccountNotUsableError],
    ['002_007', { bankCode: '999' }, KonaplateAccountNotFoundError],
    ['000_002', { birthDate: '18991231' }, KonaplateInvalidRequestError],
  ];

  it('000_000: the name and birth date match the account holder', async () => {
    const result = await client.verifyAccountHolder(VALID);
    expect(result.verified).toBe(true);
    expect(sandbox.requests.at(-1)).toMatchObject({ correlationId: result.correlationId, httpStatus: 200, resultCode: '000_000' });
  });

  it.each(cases)('%s for %j', async (code, change, errorClass) => {
    const err = await failure(client.verifyAccountHolder({ ...VALID, ...change }));
    expect(err).toBeInstanceOf(errorClass);
    expect(err.code).toBe(code);
    expect(err.kind).toBe(RESULT_CODES[code].kind);
    expect(err.httpStatus).toBe(400);
    expect(err.correlationId).toBe(sandbox.requests.at(-1)?.correlationId);
    // The message is ours: no input value, no server text.
    for (const value of Object.values(change)) expect(err.message).not.toContain(value);
  });

  it('000_003 for a missing field (sent raw: the client never omits one)', async () => {
    const body = JSON.stringify({
      encData: await encryptForSandbox('{"userId":1000000001,"userName":"홍길동","bankCode":"088","bankAccount":"110234567890"}'),
    });
    expect(await rawPost(PATHS.verifyAccountHolder, body)).toMatchObject({
      status: 400,
      code: '000_003',
      description: 'Missing required values. birthDate',
    });
  });

  it('000_002 for a userId written as a string (the API types it as a number)', async () => {
    const body = JSON.stringify({
      encData: await encryptForSandbox(
        '{"userId":"1000000001","userName":"홍길동","birthDate":"19800101","bankCode":"088","bankAccount":"110234567890"}',
      ),
    });
    expect(await rawPost(PATHS.verifyAccountHolder, body)).toMatchObject({ status: 400, code: '000_002' });
  });

  it('maps a code it does not know to KonaplateUnknownCodeError', async () => {
    sandbox.injectFault({ type: 'result', code: '009_999' });
    const err = await failure(client.verifyAccountHolder(VALID));
    expect(err).toBeInstanceOf(KonaplateUnknownCodeError);
    expect(err.code).toBe('009_999');
  });
});

describe('registered-accounts inquiry', () => {
  it('000_000 with a normal-recharge account only: auto-recharge registration allowed', async () => {
    const result = await client.inquireBankAccounts({ userId: '1000000001' });
    expect(result).toMatchObject({
      bankAccForNormalRcg: { bankAccount: HOLDER.bankAccount, bankCode: '088', bankName: '신한은행' },
      isAutoRcgAccRegAllowed: true,
    });
    expect(result.bankAccForAutoRcg).toBeUndefined();
  });

  it('000_000 with both accounts: registration not allowed', async () => {
    const result = await client.inquireBankAccounts({ userId: '1000000002' });
    expect(result.bankAccForNormalRcg).toBeDefined();
    expect(result.bankAccForAutoRcg).toBeDefined();
    expect(result.isAutoRcgAccRegAllowed).toBe(false);
  });

  it('000_000 without accounts for a member who has none; 002_005 for an id Konaplate never issued', async () => {
    sandbox.setRegisteredAccounts('1000000003', {});
    expect(await client.inquireBankAccounts({ userId: '1000000003' })).toMatchObject({ isAutoRcgAccRegAllowed: false });
    expect(await failure(client.inquireBankAccounts({ userId: '1000000004' }))).toBeInstanceOf(KonaplateHolderNotFoundError);
  });

  it('sends a 19-digit userId as an exact JSON number', async () => {
    // Rounded to a double, 9007199254740993123 would become 9007199254740993000: another member.
    const result = await client.inquireBankAccounts({ userId: '9007199254740993123' });
    expect(result.bankAccForNormalRcg?.bankAccount).toBe(SANDBOX_HOLDERS[2]!.bankAccount);
    expect((await client.verifyAccountHolder({ ...VALID, userId: '9007199254740993123' })).verified).toBe(true);
  });

  it('000_002 and 000_003 for a bad or missing userId (sent raw)', async () => {
    expect(await rawPost(PATHS.inquireBankAccounts, '{"userId":1.5}')).toMatchObject({
      status: 400,
      code: '000_002',
      description: 'Invalid input parameter. userId',
    });
    expect(await rawPost(PATHS.inquireBankAccounts, '{}')).toMatchObject({ status: 400, code: '000_003' });
  });

  it('maps forced result codes through the same table', async () => {
    sandbox.injectFault({ type: 'result', code: '000_002' }, { endpoint: 'inquireBankAccounts' });
    const err = await failure(client.inquireBankAccounts({ userId: '1000000001' }));
    expect(err).toBeInstanceOf(KonaplateInvalidRequestError);
    expect(err.code).toBe('000_002');
  });
});

describe('headers', () => {
  it('the sandbox refuses a wrong HMAC (HTTP 401, no result code) and the client reports an auth error', async () => {
    const wrongSecret = createKonaplateClient(sandboxClientOptions(sandbox, { ...FAST, secretKey: 'not-the-secret' }));
    const err = await failure(wrongSecret.inquireBankAccounts({ userId: '1000000001' }));
    expect(err).toBeInstanceOf(KonaplateAuthError);
    expect(err).toMatchObject({ code: 'HTTP_STATUS', httpStatus: 401, kind: 'unauthorized' });
  });

  it('the HMAC covers the exact body bytes', async () => {
    const body = '{"userId":1000000001}';
    const signed = buildSignedHeaders({
      credentials: { aspId: sandbox.keys.aspId, accessKey: sandbox.keys.accessKey, secretKey: sandbox.keys.secretKey },
      body,
      at: new Date(),
      timeZone: 'KST',
      correlationId: createCorrelationId(new Date(), 'KST'),
      cryptoKeyId: sandbox.keys.cryptoKeyId,
    });
    // Same JSON meaning, one space more: the signature no longer matches.
    const response = await fetch(`${sandbox.url}${PATHS.inquireBankAccounts}`, {
      method: 'POST',
      headers: signed,
      body: '{"userId": 1000000001}',
    });
    expect(response.status).toBe(401);
  });

  it('the sandbox refuses a stale Tran-Time', async () => {
    const stale = createKonaplateClient(sandboxClientOptions(sandbox, { ...FAST, now: () => new Date(Date.now() - 10 * 60_000) }));
    expect(await failure(stale.inquireBankAccounts({ userId: '1000000001' }))).toBeInstanceOf(KonaplateAuthError);
  });

  it('the sandbox refuses a malformed correlation id, time zone or Tran-Time, and missing headers', async () => {
    const path = PATHS.inquireBankAccounts;
    const body = '{"userId":1000000001}';
    expect(await rawPost(path, body, { [HEADER.correlationId]: '250102120405-abcdefg' })).toMatchObject({ status: 400, code: '000_002' });
    expect(await rawPost(path, body, { [HEADER.correlationId]: '250102120405abc12345' })).toMatchObject({ status: 400, code: '000_002' });
    expect(await rawPost(path, body, { [HEADER.timeZone]: 'PST' })).toMatchObject({ status: 400, code: '000_002' });
    expect(await rawPost(path, body, { [HEADER.tranTime]: '2025010212040' })).toMatchObject({ status: 400, code: '000_002' });
    expect(await rawPost(path, body, { [HEADER.accessKey]: undefined })).toMatchObject({ status: 400, code: '000_003' });
    expect(await rawPost(path, body)).toMatchObject({ status: 200, code: '000_000' });
  });

  it('accepts UTC header times as well as KST', async () => {
    const unpadded = createKonaplateClient(sandboxClientOptions(sandbox, { ...FAST, timeZone: 'UTC' }));
    expect((await unpadded.verifyAccountHolder(VALID)).verified).toBe(true);
    expect((await unpadded.inquireBankAccounts({ userId: '1000000001' })).isAutoRcgAccRegAllowed).toBe(true);
  });

  it('refuses client options with wrong credential lengths before any call', () => {
    expect(() => createKonaplateClient(sandboxClientOptions(sandbox, { aspId: 'short' }))).toThrow(TypeError);
    expect(() => createKonaplateClient(sandboxClientOptions(sandbox, { accessKey: 'short' }))).toThrow(TypeError);
  });
});

describe('validation before sending', () => {
  it('a request that breaks a documented rule never reaches the server', async () => {
    const before = sandbox.requests.length;
    const err = await failure(
      client.verifyAccountHolder({ ...VALID, bankCode: '88', bankAccount: '110-234-567890', birthDate: '19800231' }),
    );
    expect(err).toBeInstanceOf(KonaplateValidationError);
    expect((err as KonaplateValidationError).issues.map((issue) => issue.field)).toEqual(['birthDate', 'bankCode', 'bankAccount']);
    await expect(client.inquireBankAccounts({ userId: '12345678901234567890' })).rejects.toBeInstanceOf(KonaplateValidationError);
    await expect(client.inquireBankAccounts({ userId: '1000000001' }, { correlationId: 'not-an-id' })).rejects.toBeInstanceOf(
      KonaplateValidationError,
    );
    expect(sandbox.requests.length).toBe(before);
  });

  it('uses a correlation id given by the caller', async () => {
    const correlationId = createCorrelationId(new Date(), 'KST');
    expect((await client.verifyAccountHolder(VALID, { correlationId })).correlationId).toBe(correlationId);
    expect(sandbox.requests.at(-1)?.correlationId).toBe(correlationId);
  });
});

describe('retries', () => {
  const requestsFor = (endpoint: string, since: number) => sandbox.requests.slice(since).filter((r) => r.endpoint === endpoint);

  it('inquiry: retried after a 500, then succeeds, each attempt with its own correlation id', async () => {
    const since = sandbox.requests.length;
    sandbox.injectFault({ type: 'status', status: 500 }, { endpoint: 'inquireBankAccounts' });
    const result = await client.inquireBankAccounts({ userId: '1000000001' });
    expect(result.isAutoRcgAccRegAllowed).toBe(true);
    const attempts = requestsFor('inquireBankAccounts', since);
    expect(attempts.map((r) => r.httpStatus)).toEqual([500, 200]);
    expect(attempts[0]!.correlationId).not.toBe(attempts[1]!.correlationId);
  });

  it('inquiry: retried after a connection reset and after a timeout', async () => {
    const since = sandbox.requests.length;
    sandbox.injectFault({ type: 'reset' }, { endpoint: 'inquireBankAccounts' });
    sandbox.injectFault({ type: 'delay', ms: 30_000 }, { endpoint: 'inquireBankAccounts' });
    const result = await client.inquireBankAccounts({ userId: '1000000001' }, { timeoutMs: 2_000 });
    expect(result.bankAccForNormalRcg).toBeDefined();
    expect(requestsFor('inquireBankAccounts', since).map((r) => r.fault ?? 'none')).toEqual(['reset', 'delay', 'none']);
  });

  it('inquiry: gives up after maxAttempts with a server error', async () => {
    const since = sandbox.requests.length;
    sandbox.injectFault({ type: 'status', status: 503 }, { endpoint: 'inquireBankAccounts', times: 3 });
    const err = await failure(client.inquireBankAccounts({ userId: '1000000001' }));
    expect(err).toBeInstanceOf(KonaplateServerError);
    expect(err.httpStatus).toBe(503);
    expect(requestsFor('inquireBankAccounts', since)).toHaveLength(3);
  });

  it('inquiry: a result code is final, never retried', async () => {
    const since = sandbox.requests.length;
    sandbox.injectFault({ type: 'result', code: '000_002' }, { endpoint: 'inquireBankAccounts' });
    await expect(client.inquireBankAccounts({ userId: '1000000001' })).rejects.toBeInstanceOf(KonaplateInvalidRequestError);
    expect(requestsFor('inquireBankAccounts', since)).toHaveLength(1);
  });

  it('holder verification: a timeout is OutcomeUnknownError, sent once', async () => {
    const since = sandbox.requests.length;
    sandbox.injectFault({ type: 'delay', ms: 30_000 }, { endpoint: 'verifyAccountHolder' });
    const err = await failure(client.verifyAccountHolder(VALID, { timeoutMs: 300 }));
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect(err.kind).toBe('outcome_unknown');
    const attempts = requestsFor('verifyAccountHolder', since);
    expect(attempts).toHaveLength(1);
    // The sandbox did process it: exactly the case the caller has to reconcile.
    expect(err.correlationId).toBe(attempts[0]!.correlationId);
  });

  it('holder verification: a reset connection or a 500 is OutcomeUnknownError, never retried', async () => {
    const since = sandbox.requests.length;
    sandbox.injectFault({ type: 'reset' }, { endpoint: 'verifyAccountHolder' });
    expect(await failure(client.verifyAccountHolder(VALID))).toBeInstanceOf(OutcomeUnknownError);
    sandbox.injectFault({ type: 'status', status: 500 }, { endpoint: 'verifyAccountHolder' });
    const err = await failure(client.verifyAccountHolder(VALID));
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect(err.httpStatus).toBe(500);
    expect(requestsFor('verifyAccountHolder', since)).toHaveLength(2);
  });

  it('a refused connection (nothing sent) is a network error, not an unknown outcome', async () => {
    const closed = await startKonaplateSandbox({ encryption: false });
    const options = sandboxClientOptions(closed, { ...FAST, connectRetries: 1 });
    await closed.close();
    const err = await failure(createKonaplateClient(options).verifyAccountHolder(VALID));
    expect(err).toBeInstanceOf(KonaplateNetworkError);
    expect(err.kind).toBe('network');
  });
});

describe('encryption', () => {
  it('holder verification requests are decrypted by the sandbox with its own key', async () => {
    // The success above already needed a JWE the sandbox could open; a JWE to any other key fails.
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const wrongServerKey = createKonaplateClient({
      ...sandboxClientOptions(sandbox, FAST),
      cipher: createJweFieldCipher({
        keyId: sandbox.keys.cryptoKeyId,
        encryptTo: stranger.publicKey,
        decryptWith: sandbox.keys.clientPrivateKey!,
      }),
    });
    const err = await failure(wrongServerKey.verifyAccountHolder(VALID));
    expect(err).toBeInstanceOf(KonaplateInvalidRequestError);
    expect(err.serverDescription).toBe('Invalid input parameter. encData');
  });

  it('inquiry responses are encrypted to the client key: another private key cannot read them', async () => {
    const stranger = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const wrongClientKey = createKonaplateClient({
      ...sandboxClientOptions(sandbox, FAST),
      cipher: createJweFieldCipher({
        keyId: sandbox.keys.cryptoKeyId,
        encryptTo: sandbox.keys.serverPublicKey,
        decryptWith: stranger.privateKey,
      }),
    });
    const err = await failure(wrongClientKey.inquireBankAccounts({ userId: '1000000001' }));
    expect(err).toBeInstanceOf(KonaplateProtocolError);
    // The sandbox answered 000_000: only the client failed to read it.
    expect(sandbox.requests.at(-1)?.resultCode).toBe('000_000');
  });

  it('a plain request to an encrypting project is refused', async () => {
    const plain = createKonaplateClient({ ...sandboxClientOptions(sandbox, FAST), cipher: undefined });
    const err = await failure(plain.verifyAccountHolder(VALID));
    expect(err).toBeInstanceOf(KonaplateInvalidRequestError);
    expect(err.code).toBe('000_003');
  });

  it('without encryption both sides speak plain JSON', async () => {
    const plainSandbox = await startKonaplateSandbox({ encryption: false });
    try {
      const plain = createKonaplateClient(sandboxClientOptions(plainSandbox, FAST));
      expect((await plain.verifyAccountHolder(VALID)).verified).toBe(true);
      expect((await plain.inquireBankAccounts({ userId: '1000000002' })).isAutoRcgAccRegAllowed).toBe(false);
    } finally {
      await plainSandbox.close();
    }
  });
});

describe('logs', () => {
  it('carry masked names, accounts and birth dates only, and no secret, token or ciphertext', async () => {
    const destination = createCapturingDestination();
    const logger = createLogger({ service: 'konaplate-test', destination, level: 'debug' });
    const logged = createKonaplateClient(sandboxClientOptions(sandbox, { ...FAST, logger }));
    await logged.verifyAccountHolder(VALID);
    await failure(logged.verifyAccountHolder({ ...VALID, userName: '홍길순' }));
    await logged.inquireBankAccounts({ userId: '1000000001' });

    const text = destination.text();
    expect(destination.lines.length).toBeGreaterThanOrEqual(3);
    expect(text).toContain('홍*동');
    expect(text).toContain('홍*순');
    expect(text).toContain('1980****');
    expect(text).toContain('********7890');
    for (const secret of [
      '홍길동',
      '홍길순',
      HOLDER.bankAccount,
      HOLDER.birthDate,
      sandbox.keys.secretKey,
      sandbox.keys.accessKey,
      'KMV1:',
      'encData',
      'eyJ', // the start of every JWE protected header
    ]) {
      expect(text).not.toContain(secret);
    }
    const first = JSON.parse(destination.lines[0]!);
    expect(first.konaplate).toMatchObject({ operation: 'verifyAccountHolder', http_status: 200, result_code: '000_000' });
  });
});
