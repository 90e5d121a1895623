/**
 * The real client against the sandbox over HTTP on 127.0.0.1. Time is a manual clock shared by
 * both, so expiry and token lifetime are exercised without sleeping.
 */
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KakaocertError, KakaocertTransportError, KakaocertValidationError, OutcomeUnknownError } from './errors';
import { createKakaocertClient, type KakaocertClient, type KakaocertClientOptions } from './kakaocert-client';
import { decodeObjectIdentifier, readDer } from './sandbox/der';
import { SANDBOX_ERRORS } from './sandbox/sandbox-error-codes';
import { startKakaocertSandbox, type KakaocertSandbox, type KakaocertSandboxOptions } from './sandbox/sandbox-server';
import { manualClock, validRequestCMS } from './testing/cms.fixtures';
import { CMS_STATE } from './types';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup(options: { sandbox?: KakaocertSandboxOptions; client?: Partial<KakaocertClientOptions> } = {}) {
  const clock = manualClock();
  const sandbox = await startKakaocertSandbox({ clock: clock.now, ...options.sandbox });
  cleanups.push(() => sandbox.close());
  const makeClient = (overrides: Partial<KakaocertClientOptions> = {}): KakaocertClient => {
    const client = createKakaocertClient({
      linkId: sandbox.linkId,
      secretKey: sandbox.secretKey,
      serviceUrl: sandbox.url,
      authUrl: sandbox.authUrl,
      now: clock.now,
      retryDelayMs: 0,
      ...options.client,
      ...overrides,
    });
    cleanups.push(() => client.close());
    return client;
  };
  return { sandbox, clock, client: makeClient(), makeClient, clientCode: sandbox.clientCode };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

async function kakaocertError(promise: Promise<unknown>): Promise<KakaocertError> {
  const err = await rejection(promise);
  expect(err).toBeInstanceOf(KakaocertError);
  return err as KakaocertError;
}

function totalCalls(sandbox: KakaocertSandbox): number {
  return Object.values(sandbox.calls()).reduce((a, b) => a + b, 0);
}

describe('CMS state transitions', () => {
  it('0 → 1: request, view, sign, verify once; ResultCMS carries the request', async () => {
    const { client, sandbox, clock, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS({ PayLoad: 'memo-1', TMSMessage: '안내' }));
    expect(receiptId).toMatch(/^[0-9]{20}$/);

    const pending = await client.getCMSState(clientCode, receiptId);
    expect(pending).toMatchObject({
      receiptID: receiptId,
      clientCode,
      clientName: 'KFRM 샌드박스',
      subClientCode: null,
      state: CMS_STATE.UNCONFIRMED,
      expires_in: 300,
      callCenterNum: '1600-8536',
      tmstitle: '자동충전 출금동의',
      tmsmessage: '안내',
      allowSimpleRegistYN: false,
      verifyNameYN: true,
      // 2025-03-01T01:00:00Z is 10:00:00 in Seoul.
      requestDT: '20250301100000',
      regDT: '20250301100000',
      expireDT: '20250301100500',
      viewDT: null,
      completeDT: null,
      verifyDT: null,
      payload: 'memo-1',
    });

    clock.advance(10_000);
    sandbox.view(receiptId);
    expect((await client.getCMSState(clientCode, receiptId)).viewDT).toBe('20250301100010');

    clock.advance(20_000);
    sandbox.sign(receiptId);
    const signed = await client.getCMSState(clientCode, receiptId);
    expect(signed.state).toBe(CMS_STATE.SIGNED);
    expect(signed.completeDT).toBe('20250301100030');

    const verified = await client.verifyCMS(clientCode, receiptId);
    expect(verified.receiptId).toBe(receiptId);
    const der = readDer(Buffer.from(verified.signedData, 'base64url'));
    // id-signedData: a CMS SignedData (its signature is checked in kakaocert-consent-provider.it.test.ts).
    expect(decodeObjectIdentifier(der.children[0]!.content)).toBe('1.2.840.113549.1.7.2');

    const after = await client.getCMSState(clientCode, receiptId);
    expect(after.state).toBe(CMS_STATE.SIGNED);
    expect(after.verifyDT).toBe('20250301100030');
  });

  it('0 → 2: unsigned requests expire after Expires_in; signing and verifying then fail', async () => {
    const { client, sandbox, clock, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS({ Expires_in: 60 }));
    clock.advance(59_999);
    expect((await client.getCMSState(clientCode, receiptId)).state).toBe(CMS_STATE.UNCONFIRMED);
    clock.advance(1);
    expect((await client.getCMSState(clientCode, receiptId)).state).toBe(CMS_STATE.EXPIRED);
    expect(() => sandbox.sign(receiptId)).toThrow(/expired/);
    expect((await kakaocertError(client.verifyCMS(clientCode, receiptId))).code).toBe(SANDBOX_ERRORS.EXPIRED.code);
  });

  it('a receipt signed in time stays signed (and verifiable) after its expiry time', async () => {
    const { client, sandbox, clock, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS({ Expires_in: 60 }));
    sandbox.sign(receiptId);
    clock.advance(3_600_000);
    expect((await client.getCMSState(clientCode, receiptId)).state).toBe(CMS_STATE.SIGNED);
    await expect(client.verifyCMS(clientCode, receiptId)).resolves.toMatchObject({ receiptId });
  });

  it('VerifyCMS before signing fails without consuming the receipt', async () => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    const err = await kakaocertError(client.verifyCMS(clientCode, receiptId));
    expect(err.code).toBe(SANDBOX_ERRORS.NOT_SIGNED.code);
    expect(err.code).toBeLessThanOrEqual(-10_000_000);
    sandbox.sign(receiptId);
    await expect(client.verifyCMS(clientCode, receiptId)).resolves.toMatchObject({ receiptId });
  });

  it('a second VerifyCMS fails', async () => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.sign(receiptId);
    await client.verifyCMS(clientCode, receiptId);
    const err = await kakaocertError(client.verifyCMS(clientCode, receiptId));
    expect(err.code).toBe(SANDBOX_ERRORS.ALREADY_VERIFIED.code);
    expect(sandbox.calls().verify).toBe(2);
  });

  it('an unknown receipt, or another client code’s, is not found', async () => {
    const { client, clientCode } = await setup({
      sandbox: {
        clients: [
          { clientCode: '020040000001', clientName: 'A' },
          { clientCode: '020040000002', clientName: 'B' },
        ],
      },
    });
    expect((await kakaocertError(client.getCMSState(clientCode, '02503010000000000000'))).code).toBe(SANDBOX_ERRORS.RECEIPT_NOT_FOUND.code);
    expect((await kakaocertError(client.verifyCMS(clientCode, '02503010000000000000'))).code).toBe(SANDBOX_ERRORS.RECEIPT_NOT_FOUND.code);
    const receiptId = await client.requestCMS('020040000001', validRequestCMS());
    expect((await kakaocertError(client.getCMSState('020040000002', receiptId))).code).toBe(SANDBOX_ERRORS.RECEIPT_NOT_FOUND.code);
  });

  it('SubClientID is echoed with its name; an unregistered one is refused', async () => {
    const { client, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS({ SubClientID: 'SUB000000001' }));
    expect(await client.getCMSState(clientCode, receiptId)).toMatchObject({
      subClientCode: 'SUB000000001',
      subClientName: 'KFRM 자동충전',
    });
    expect((await kakaocertError(client.requestCMS(clientCode, validRequestCMS({ SubClientID: 'SUB999' })))).code).toBe(
      SANDBOX_ERRORS.SUB_CLIENT_UNKNOWN.code,
    );
  });
});

describe('falsy fields', () => {
  it('sends false and empty values as given (the SDK drops them) and the server sees them', async () => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(
      clientCode,
      validRequestCMS({ isAllowSimpleRegistYN: false, isVerifyNameYN: false, TMSMessage: '', PayLoad: '' }),
    );
    const sent = JSON.parse(sandbox.lastRequestBody()!) as Record<string, unknown>;
    expect(sent).toMatchObject({ isAllowSimpleRegistYN: false, isVerifyNameYN: false, isAppUseYN: false, TMSMessage: '', PayLoad: '' });
    expect(Object.keys(sent).sort()).toEqual(
      [
        'BankAccountName',
        'BankAccountNum',
        'BankCode',
        'CallCenterNum',
        'ClientUserID',
        'Expires_in',
        'PayLoad',
        'ReceiverBirthDay',
        'ReceiverHP',
        'ReceiverName',
        'TMSMessage',
        'TMSTitle',
        'isAllowSimpleRegistYN',
        'isAppUseYN',
        'isVerifyNameYN',
      ].sort(),
    );
    expect(await client.getCMSState(clientCode, receiptId)).toMatchObject({ allowSimpleRegistYN: false, verifyNameYN: false });
  });
});

describe('token caching', () => {
  it('fetches one token for many calls of one client code', async () => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    for (let i = 0; i < 5; i++) await client.getCMSState(clientCode, receiptId);
    sandbox.sign(receiptId);
    await client.verifyCMS(clientCode, receiptId);
    expect(sandbox.calls()).toEqual({ token: 1, request: 1, status: 5, verify: 1 });
  });

  it('shares one in-flight fetch among concurrent calls', async () => {
    const { client, makeClient, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    const fresh = makeClient();
    const results = await Promise.all(Array.from({ length: 12 }, () => fresh.getCMSState(clientCode, receiptId)));
    expect(results.every((r) => r.receiptID === receiptId)).toBe(true);
    expect(sandbox.calls().token).toBe(2); // one for `client`, one for `fresh`
  });

  it('keeps a token per client code', async () => {
    const { client, sandbox } = await setup({
      sandbox: {
        clients: [
          { clientCode: '020040000001', clientName: 'A' },
          { clientCode: '020040000002', clientName: 'B' },
        ],
      },
    });
    await client.requestCMS('020040000001', validRequestCMS());
    await client.requestCMS('020040000002', validRequestCMS());
    await client.requestCMS('020040000001', validRequestCMS());
    expect(sandbox.calls().token).toBe(2);
  });

  it('refetches shortly before expiry, not earlier', async () => {
    const { client, sandbox, clock, clientCode } = await setup({
      sandbox: { tokenTtlSeconds: 3600 },
      client: { tokenRefreshMarginMs: 60_000 },
    });
    const receiptId = await client.requestCMS(clientCode, validRequestCMS({ Expires_in: 1000 }));
    clock.advance(3_540_000 - 1);
    await client.getCMSState(clientCode, receiptId);
    expect(sandbox.calls().token).toBe(1);
    clock.advance(1);
    await client.getCMSState(clientCode, receiptId);
    expect(sandbox.calls().token).toBe(2);
    clock.advance(3_600_000);
    await client.getCMSState(clientCode, receiptId);
    expect(sandbox.calls().token).toBe(3);
  });

  it('a token the server no longer knows is dropped: GetCMSState retries once with a new one', async () => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.revokeTokens();
    await expect(client.getCMSState(clientCode, receiptId)).resolves.toMatchObject({ receiptID: receiptId });
    expect(sandbox.calls()).toMatchObject({ token: 2, status: 2 });
  });

  it('VerifyCMS with a refused token fails (not retried) and the next call gets a new token', async () => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.sign(receiptId);
    sandbox.revokeTokens();
    const err = await kakaocertError(client.verifyCMS(clientCode, receiptId));
    expect(err.code).toBe(SANDBOX_ERRORS.TOKEN_INVALID.code);
    expect(err.httpStatus).toBe(401);
    expect(sandbox.calls().verify).toBe(1);
    await expect(client.verifyCMS(clientCode, receiptId)).resolves.toMatchObject({ receiptId });
    expect(sandbox.calls()).toMatchObject({ token: 2, verify: 2 });
  });

  it('a failed token fetch is not cached', async () => {
    const { client, sandbox, clientCode } = await setup();
    sandbox.injectFault({ route: 'token', kind: 'http500' });
    const err = await kakaocertError(client.requestCMS(clientCode, validRequestCMS()));
    expect(err.code).toBe(SANDBOX_ERRORS.INTERNAL.code);
    expect(sandbox.calls().request).toBe(0);
    await expect(client.requestCMS(clientCode, validRequestCMS())).resolves.toMatch(/^[0-9]{20}$/);
    expect(sandbox.calls()).toMatchObject({ token: 2, request: 1 });
  });
});

describe('Linkhub authentication', () => {
  it('a wrong secret key is refused by the auth host and nothing is requested', async () => {
    const { makeClient, sandbox, clientCode } = await setup();
    const client = makeClient({ secretKey: Buffer.from('not the sandbox key').toString('base64') });
    const err = await kakaocertError(client.requestCMS(clientCode, validRequestCMS()));
    expect(err.code).toBe(SANDBOX_ERRORS.AUTH_SIGNATURE_MISMATCH.code);
    expect(err.httpStatus).toBe(401);
    expect(sandbox.calls()).toMatchObject({ token: 1, request: 0 });
  });

  it('an unknown LinkID and an unregistered client code are refused', async () => {
    const { makeClient, client } = await setup();
    expect((await kakaocertError(makeClient({ linkId: 'OTHER' }).getCMSState('020040000001', '1'))).code).toBe(
      SANDBOX_ERRORS.AUTH_LINK_ID_UNKNOWN.code,
    );
    expect((await kakaocertError(client.getCMSState('999999999999', '1'))).code).toBe(SANDBOX_ERRORS.AUTH_CLIENT_UNKNOWN.code);
  });

  it('a client clock far off the server’s is refused (x-lh-date)', async () => {
    const { makeClient, clock, clientCode } = await setup();
    const client = makeClient({ now: () => clock.now() + 10 * 60_000 });
    expect((await kakaocertError(client.requestCMS(clientCode, validRequestCMS()))).code).toBe(SANDBOX_ERRORS.AUTH_DATE_INVALID.code);
  });

  it('signs with the forwarded IP when configured', async () => {
    const { makeClient, clientCode } = await setup();
    await expect(makeClient({ forwardIp: '*' }).requestCMS(clientCode, validRequestCMS())).resolves.toMatch(/^[0-9]{20}$/);
  });
});

describe('validation happens before anything is sent', () => {
  it.each([
    ['Expires_in', { Expires_in: 1001 }],
    ['ReceiverBirthDay', { ReceiverBirthDay: '19800231' }],
    ['ReceiverHP', { ReceiverHP: '010-1234-5678' }],
    ['TMSTitle', { TMSTitle: undefined }],
    ['ReceiverName', { ReceiverName: '가'.repeat(21) }],
  ] as const)('%s', async (field, overrides) => {
    const { client, sandbox, clientCode } = await setup();
    const err = await rejection(client.requestCMS(clientCode, validRequestCMS(overrides)));
    expect(err).toBeInstanceOf(KakaocertValidationError);
    expect((err as KakaocertValidationError).field).toBe(field);
    expect((err as KakaocertValidationError).code).toBe(-99999999);
    expect(totalCalls(sandbox)).toBe(0);
  });

  it('client code and receipt id', async () => {
    const { client, sandbox } = await setup();
    await expect(client.getCMSState('', '1')).rejects.toBeInstanceOf(KakaocertValidationError);
    await expect(client.verifyCMS('020040000001', '1/../../x')).rejects.toBeInstanceOf(KakaocertValidationError);
    expect(totalCalls(sandbox)).toBe(0);
  });
});

describe('VerifyCMS is never retried', () => {
  it('a timeout after the server processed it → OutcomeUnknownError, one call, receipt consumed', async () => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.sign(receiptId);
    sandbox.injectFault({ route: 'verify', kind: 'delay', phase: 'after', delayMs: 10_000 });
    const err = await rejection(client.verifyCMS(clientCode, receiptId, { timeoutMs: 150 }));
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect(err).toMatchObject({ operation: 'VerifyCMS', receiptId });
    expect(((err as OutcomeUnknownError).cause as KakaocertTransportError).kind).toBe('timeout');
    expect(sandbox.calls().verify).toBe(1);
    // Why it must not be retried: kakaoCert has already spent its one answer.
    expect(sandbox.receipt(receiptId)?.verifiedAtMs).toBeDefined();
    expect((await kakaocertError(client.verifyCMS(clientCode, receiptId))).code).toBe(SANDBOX_ERRORS.ALREADY_VERIFIED.code);
  });

  it.each([
    ['reset after processing', { kind: 'reset', phase: 'after' }, true],
    ['reset before processing', { kind: 'reset', phase: 'before' }, false],
    ['HTML 502 after processing', { kind: 'non_json', phase: 'after' }, true],
    ['200 with a non-JSON body', { kind: 'non_json', phase: 'after', status: 200 }, true],
  ] as const)('%s → OutcomeUnknownError after exactly one call', async (_name, fault, consumed) => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.sign(receiptId);
    sandbox.injectFault({ route: 'verify', ...fault });
    await expect(client.verifyCMS(clientCode, receiptId)).rejects.toBeInstanceOf(OutcomeUnknownError);
    expect(sandbox.calls().verify).toBe(1);
    expect(sandbox.receipt(receiptId)?.verifiedAtMs !== undefined).toBe(consumed);
  });

  it('a 500 with a kakaoCert error body is a definite failure, not an unknown outcome', async () => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.sign(receiptId);
    sandbox.injectFault({ route: 'verify', kind: 'http500' });
    const err = await kakaocertError(client.verifyCMS(clientCode, receiptId));
    expect(err).toMatchObject({ code: SANDBOX_ERRORS.INTERNAL.code, httpStatus: 500 });
    expect(sandbox.calls().verify).toBe(1);
  });

  it('a connection that never opened is a transport error that says so', async () => {
    const { makeClient, sandbox, clientCode } = await setup();
    const closedUrl = await closedPortUrl();
    const client = makeClient({ serviceUrl: closedUrl });
    const err = await rejection(client.verifyCMS(clientCode, '02503010000000000000'));
    expect(err).toBeInstanceOf(KakaocertTransportError);
    expect(err).toMatchObject({ kind: 'network', maybeReachedServer: false });
    expect(sandbox.calls().token).toBe(1);
  });
});

describe('RequestCMS is never retried', () => {
  it('a timeout after the server created the receipt → OutcomeUnknownError, one call', async () => {
    const { client, sandbox, clientCode } = await setup();
    sandbox.injectFault({ route: 'request', kind: 'delay', phase: 'after', delayMs: 10_000 });
    const err = await rejection(client.requestCMS(clientCode, validRequestCMS(), { timeoutMs: 150 }));
    expect(err).toBeInstanceOf(OutcomeUnknownError);
    expect(err).toMatchObject({ operation: 'RequestCMS', receiptId: undefined });
    expect(sandbox.calls().request).toBe(1);
    expect(sandbox.lastRequestBody()).toBeDefined();
  });

  it('a server error body is a definite failure', async () => {
    const { client, sandbox, clientCode } = await setup();
    sandbox.injectFault({ route: 'request', kind: 'http500' });
    expect((await kakaocertError(client.requestCMS(clientCode, validRequestCMS()))).code).toBe(SANDBOX_ERRORS.INTERNAL.code);
    expect(sandbox.calls().request).toBe(1);
  });
});

describe('GetCMSState retries what is safe to retry', () => {
  it.each([
    ['HTML 502', { kind: 'non_json' }],
    ['500 error body', { kind: 'http500' }],
    ['connection reset', { kind: 'reset' }],
  ] as const)('%s twice, then an answer', async (_name, fault) => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.injectFault({ route: 'status', ...fault, times: 2 });
    await expect(client.getCMSState(clientCode, receiptId)).resolves.toMatchObject({ state: 0 });
    expect(sandbox.calls().status).toBe(3);
  });

  it('gives up after the configured attempts with a typed error', async () => {
    const { client, sandbox, clientCode } = await setup({ client: { statusRetries: 1 } });
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.injectFault({ route: 'status', kind: 'non_json', times: 5 });
    const err = await rejection(client.getCMSState(clientCode, receiptId));
    expect(err).toBeInstanceOf(KakaocertTransportError);
    expect(err).toMatchObject({ kind: 'bad_response', httpStatus: 502 });
    expect((err as Error).message).not.toContain('<html>');
    expect(sandbox.calls().status).toBe(2);
  });

  it('times out per attempt', async () => {
    const { client, sandbox, clientCode } = await setup({ client: { statusRetries: 0 } });
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.injectFault({ route: 'status', kind: 'delay', delayMs: 10_000 });
    expect(await rejection(client.getCMSState(clientCode, receiptId, { timeoutMs: 100 }))).toMatchObject({ kind: 'timeout' });
    expect(sandbox.calls().status).toBe(1);
  });

  it('does not retry a definite error', async () => {
    const { client, sandbox, clientCode } = await setup();
    const notFound = await kakaocertError(client.getCMSState(clientCode, '02503010000000000000'));
    expect(notFound.code).toBe(SANDBOX_ERRORS.RECEIPT_NOT_FOUND.code);
    expect(sandbox.calls().status).toBe(1);
  });

  it('stops when the caller aborts', async () => {
    const { client, sandbox, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.injectFault({ route: 'status', kind: 'delay', delayMs: 10_000 });
    const controller = new AbortController();
    const pending = rejection(client.getCMSState(clientCode, receiptId, { signal: controller.signal }));
    // Abort once the call is in the server's hands, so the abort cannot be taken for a failure
    // worth retrying.
    while (sandbox.calls().status === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    controller.abort();
    expect(await pending).toMatchObject({ kind: 'aborted' });
    expect(sandbox.calls().status).toBe(1);
  });
});

describe('auth host error bodies', () => {
  it('a non-JSON answer to the token request is a transport error, not a crash', async () => {
    const { client, sandbox, clientCode } = await setup();
    sandbox.injectFault({ route: 'token', kind: 'non_json' });
    expect(await rejection(client.requestCMS(clientCode, validRequestCMS()))).toMatchObject({ kind: 'bad_response', httpStatus: 502 });
    expect(sandbox.calls().request).toBe(0);
  });

  it('a reset token request is a transport error, and no service call follows', async () => {
    const { client, sandbox, clientCode } = await setup();
    sandbox.injectFault({ route: 'token', kind: 'reset' });
    expect(await rejection(client.verifyCMS(clientCode, '02503010000000000000'))).toBeInstanceOf(KakaocertTransportError);
    expect(sandbox.calls().verify).toBe(0);
  });
});

async function closedPortUrl(): Promise<string> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}
