/**
 * Seed 003's RequestCMS table, one case per documented field rule: the sandbox must refuse the
 * request sent raw (signed as the client signs it) and the real client's check must refuse it
 * before sending, so neither side can drift from the seed unnoticed. The error codes are the
 * sandbox's (seed 003 gives only their format: a negative 8-digit number).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KakaocertValidationError } from './errors';
import { kcAuthHeader, linkhubAuthorization } from './linkhub-signature';
import { SANDBOX_ERRORS } from './sandbox/sandbox-error-codes';
import { startKakaocertSandbox, type KakaocertSandbox } from './sandbox/sandbox-server';
import { manualClock, validRequestCMS } from './testing/cms.fixtures';
import type { RequestCMS } from './types';
import { validateRequestCMS } from './validate-request-cms';

const clock = manualClock();
let sandbox: KakaocertSandbox;
let sessionToken: string;

beforeAll(async () => {
  sandbox = await startKakaocertSandbox({ clock: clock.now });
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
  sessionToken = ((await res.json()) as { session_token: string }).session_token;
});
afterAll(() => sandbox.close());

async function postRaw(payload: Record<string, unknown>): Promise<{ status: number; code?: number }> {
  const body = Buffer.from(JSON.stringify(payload));
  const xDate = new Date(clock.now()).toISOString();
  const res = await fetch(`${sandbox.url}/SignDirectDebit/Request`, {
    method: 'POST',
    headers: {
      Authorization: `Bearer ${sessionToken}`,
      'x-lh-date': xDate,
      'x-lh-version': '2.0',
      'x-kc-auth': kcAuthHeader({ linkId: sandbox.linkId, secretKey: sandbox.secretKey, body, xDate }),
      'Content-Type': 'application/json',
    },
    body,
  });
  const json = (await res.json()) as { code?: number };
  return { status: res.status, code: json.code };
}

const REQUIRED = SANDBOX_ERRORS.FIELD_REQUIRED.code;
const INVALID = SANDBOX_ERRORS.FIELD_INVALID.code;

describe('RequestCMS fields (seed 003 A.2)', () => {
  it('the valid request every case below changes one field of is accepted', async () => {
    expect((await postRaw(validRequestCMS() as unknown as Record<string, unknown>)).status).toBe(200);
  });

  const cases: [field: keyof RequestCMS, rule: string, code: number, value: unknown][] = [
    ['CallCenterNum', 'required', REQUIRED, undefined],
    ['CallCenterNum', 'length 20', INVALID, '1'.repeat(21)],
    ['Expires_in', 'required', REQUIRED, undefined],
    ['Expires_in', 'at most 1000', INVALID, 1001],
    ['Expires_in', 'a number', INVALID, '300'],
    ['ReceiverBirthDay', 'required', REQUIRED, undefined],
    ['ReceiverBirthDay', 'length 8, YYYYMMDD', INVALID, '800101'],
    ['ReceiverHP', 'required', REQUIRED, undefined],
    ['ReceiverHP', 'without hyphens', INVALID, '010-1234-5678'],
    ['ReceiverHP', 'length 11', INVALID, '010123456789'],
    ['ReceiverName', 'required', REQUIRED, undefined],
    ['ReceiverName', 'length 20', INVALID, '가'.repeat(21)],
    ['BankAccountName', 'length 20', INVALID, '가'.repeat(21)],
    ['BankAccountNum', 'required', REQUIRED, undefined],
    ['BankAccountNum', 'length 31', INVALID, '1'.repeat(32)],
    ['BankCode', 'required', REQUIRED, undefined],
    ['BankCode', 'length 10', INVALID, '1'.repeat(11)],
    ['ClientUserID', 'required', REQUIRED, undefined],
    ['ClientUserID', 'length 40', INVALID, 'u'.repeat(41)],
    ['TMSTitle', 'required', REQUIRED, undefined],
    ['TMSTitle', 'length 40', INVALID, 't'.repeat(41)],
    ['TMSMessage', 'length 500', INVALID, 'm'.repeat(501)],
    ['SubClientID', 'length 12', INVALID, 'S'.repeat(13)],
    ['isAllowSimpleRegistYN', 'required', REQUIRED, undefined],
    ['isAllowSimpleRegistYN', 'a boolean', INVALID, 'true'],
    ['isVerifyNameYN', 'required', REQUIRED, undefined],
    ['isVerifyNameYN', 'a boolean', INVALID, 1],
    ['PayLoad', 'length 200', INVALID, 'p'.repeat(201)],
  ];

  it.each(cases)('%s (%s) → %i from the sandbox; the client refuses it before sending', async (field, _rule, code, value) => {
    const request = validRequestCMS() as unknown as Record<string, unknown>;
    if (value === undefined) delete request[field];
    else request[field] = value;
    expect(await postRaw(request)).toEqual({ status: 400, code });

    let refused: unknown;
    try {
      validateRequestCMS(request, new Date(clock.now()));
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(KakaocertValidationError);
    expect((refused as KakaocertValidationError).field).toBe(field);
  });
});
