/** The sandbox's HTTP surface seen by clients other than ours: control API, auth checks, /Time. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { kcAuthHeader, linkhubAuthorization } from '../linkhub-signature';
import { manualClock, validRequestCMS } from '../testing/cms.fixtures';
import { SANDBOX_ERRORS } from './sandbox-error-codes';
import { startKakaocertSandbox, type KakaocertSandbox } from './sandbox-server';

let sandbox: KakaocertSandbox;
const clock = manualClock();
beforeEach(async () => {
  sandbox = await startKakaocertSandbox({ clock: clock.now });
});
afterEach(() => sandbox.close());

async function token(): Promise<string> {
  const body = Buffer.from(JSON.stringify({ access_id: sandbox.clientCode, scope: ['member', '310'] }));
  const xDate = new Date(clock.now()).toISOString();
  const res = await fetch(`${sandbox.authUrl}/KAKAOCERT/Token`, {
    method: 'POST',
    headers: {
      'x-lh-date': xDate,
      'x-lh-version': '2.0',
      Authorization: linkhubAuthorization({ linkId: sandbox.linkId, secretKey: sandbox.secretKey, body, xDate, uri: '/KAKAOCERT/Token' }),
      'Content-Type': 'application/json',
    },
    body,
  });
  expect(res.status).toBe(200);
  const json = (await res.json()) as { session_token: string; expiration: string; usercode: string };
  expect(json.usercode).toBe(sandbox.clientCode);
  expect(Date.parse(json.expiration)).toBe(clock.now() + 3_600_000);
  return json.session_token;
}

async function postRequest(sessionToken: string, payload: unknown, kcAuth?: string): Promise<Response> {
  const body = Buffer.from(JSON.stringify(payload));
  const xDate = new Date(clock.now()).toISOString();
  return fetch(`${sandbox.url}/SignDirectDebit/Request`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${sessionToken}`,
      'x-lh-date': xDate,
      'x-lh-version': '2.0',
      'x-kc-auth': kcAuth ?? kcAuthHeader({ linkId: sandbox.linkId, secretKey: sandbox.secretKey, body, xDate }),
      'Content-Type': 'application/json',
    },
    body,
  });
}

async function errorCode(res: Response): Promise<number> {
  return ((await res.json()) as { code: number }).code;
}

describe('sandbox control API over HTTP', () => {
  it('signs and views receipts, reports calls, refuses what the state machine refuses', async () => {
    const t = await token();
    const created = await postRequest(t, validRequestCMS());
    const { receiptId } = (await created.json()) as { receiptId: string };

    const view = await fetch(`${sandbox.url}/__sandbox/view/${receiptId}`, { method: 'POST' });
    expect(await view.json()).toEqual({ receiptId, state: 0 });
    const sign = await fetch(`${sandbox.url}/__sandbox/sign/${receiptId}`, { method: 'POST' });
    expect(await sign.json()).toEqual({ receiptId, state: 1 });
    const again = await fetch(`${sandbox.url}/__sandbox/sign/${receiptId}`, { method: 'POST' });
    expect(again.status).toBe(409);
    expect(await errorCode(again)).toBe(SANDBOX_ERRORS.ALREADY_SIGNED.code);
    const unknown = await fetch(`${sandbox.url}/__sandbox/sign/00000000000000000000`, { method: 'POST' });
    expect(unknown.status).toBe(404);
    expect(await errorCode(unknown)).toBe(SANDBOX_ERRORS.RECEIPT_NOT_FOUND.code);

    const receipt = await fetch(`${sandbox.url}/__sandbox/receipts/${receiptId}`);
    expect(await receipt.json()).toMatchObject({ receiptID: receiptId, state: 1 });
    const calls = await fetch(`${sandbox.url}/__sandbox/calls`);
    expect(await calls.json()).toEqual({ token: 1, request: 1, status: 0, verify: 0 });
  });

  it('takes faults over HTTP and rejects malformed ones', async () => {
    const ok = await fetch(`${sandbox.url}/__sandbox/faults`, {
      method: 'POST',
      body: JSON.stringify({ route: 'token', kind: 'http500' }),
    });
    expect(ok.status).toBe(200);
    const body = Buffer.from('{}');
    const res = await fetch(`${sandbox.authUrl}/KAKAOCERT/Token`, { method: 'POST', body });
    expect(res.status).toBe(500);
    expect(await errorCode(res)).toBe(SANDBOX_ERRORS.INTERNAL.code);
    const bad = await fetch(`${sandbox.url}/__sandbox/faults`, { method: 'POST', body: JSON.stringify({ route: 'nope', kind: 'reset' }) });
    expect(bad.status).toBe(400);
    const cleared = await fetch(`${sandbox.url}/__sandbox/faults`, { method: 'DELETE' });
    expect(cleared.status).toBe(200);
  });

  it('serves /Time from its clock', async () => {
    const res = await fetch(`${sandbox.authUrl}/Time`);
    expect(await res.text()).toBe('2025-03-01T01:00:00Z');
  });
});

describe('sandbox authentication checks', () => {
  it('refuses token requests with a bad header, version, body or client', async () => {
    const xDate = new Date(clock.now()).toISOString();
    const send = (headers: Record<string, string>, body: string) =>
      fetch(`${sandbox.authUrl}/KAKAOCERT/Token`, {
        method: 'POST',
        headers: { 'x-lh-date': xDate, 'x-lh-version': '2.0', ...headers },
        body,
      });
    const sign = (body: string) =>
      linkhubAuthorization({
        linkId: sandbox.linkId,
        secretKey: sandbox.secretKey,
        body: Buffer.from(body),
        xDate,
        uri: '/KAKAOCERT/Token',
      });

    expect(await errorCode(await send({ Authorization: 'Bearer x' }, '{}'))).toBe(SANDBOX_ERRORS.AUTH_HEADER_INVALID.code);
    expect(await errorCode(await send({ Authorization: sign('{}'), 'x-lh-version': '1.0' }, '{}'))).toBe(
      SANDBOX_ERRORS.AUTH_VERSION_UNSUPPORTED.code,
    );
    // The signature covers the body: a changed body no longer matches.
    expect(await errorCode(await send({ Authorization: sign('{}') }, '{ }'))).toBe(SANDBOX_ERRORS.AUTH_SIGNATURE_MISMATCH.code);
    expect(await errorCode(await send({ Authorization: sign('{"access_id":1}') }, '{"access_id":1}'))).toBe(
      SANDBOX_ERRORS.AUTH_BODY_INVALID.code,
    );
    const unknown = '{"access_id":"999","scope":["member","310"]}';
    expect(await errorCode(await send({ Authorization: sign(unknown) }, unknown))).toBe(SANDBOX_ERRORS.AUTH_CLIENT_UNKNOWN.code);
  });

  it('refuses service calls without a valid bearer token or x-kc-auth', async () => {
    const t = await token();
    const status = await fetch(`${sandbox.url}/SignDirectDebit/Status/00000000000000000000`);
    expect(await errorCode(status)).toBe(SANDBOX_ERRORS.TOKEN_MISSING.code);
    const forged = await fetch(`${sandbox.url}/SignDirectDebit/Status/00000000000000000000`, {
      headers: { Authorization: 'Bearer forged' },
    });
    expect(await errorCode(forged)).toBe(SANDBOX_ERRORS.TOKEN_INVALID.code);
    expect(await errorCode(await postRequest(t, validRequestCMS(), `${sandbox.linkId} AAAA`))).toBe(SANDBOX_ERRORS.KC_AUTH_INVALID.code);
    expect(await errorCode(await postRequest(t, validRequestCMS(), `OTHER AAAA`))).toBe(SANDBOX_ERRORS.KC_AUTH_INVALID.code);
    clock.advance(3_600_000);
    expect(await errorCode(await postRequest(t, validRequestCMS()))).toBe(SANDBOX_ERRORS.TOKEN_EXPIRED.code);
  });

  it('checks the RequestCMS body the way the SDK gets it wrong', async () => {
    const t = await token();
    // What the public SDK sends for isVerifyNameYN: false — the key is missing.
    const { isVerifyNameYN: _dropped, ...sdkStyle } = validRequestCMS({ isVerifyNameYN: false });
    const missing = await postRequest(t, sdkStyle);
    expect(missing.status).toBe(400);
    expect(await errorCode(missing)).toBe(SANDBOX_ERRORS.FIELD_REQUIRED.code);
    expect(await errorCode(await postRequest(t, validRequestCMS({ Expires_in: 1001 })))).toBe(SANDBOX_ERRORS.FIELD_INVALID.code);
    expect(await errorCode(await postRequest(t, validRequestCMS({ ReceiverHP: '010-1234-5678' })))).toBe(SANDBOX_ERRORS.FIELD_INVALID.code);
    expect(await errorCode(await postRequest(t, [1]))).toBe(SANDBOX_ERRORS.BODY_NOT_JSON.code);
  });

  it('answers unknown paths with a JSON error', async () => {
    const res = await fetch(`${sandbox.url}/SignDirectDebit/Nope`);
    expect(res.status).toBe(404);
    expect(await errorCode(res)).toBe(SANDBOX_ERRORS.NO_SUCH_API.code);
  });
});
