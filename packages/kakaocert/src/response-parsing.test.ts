import { describe, expect, it } from 'vitest';
import { KakaocertError, KakaocertTransportError } from './errors';
import type { HttpResponse } from './http-transport';
import { errorFromResponse, jsonObject, parseKakaocertDateTime, parseResultCMS, parseVerifyResult } from './response-parsing';

const response = (status: number, body: string, contentType = 'application/json'): HttpResponse => ({
  status,
  contentType,
  body: Buffer.from(body),
});

describe('errorFromResponse', () => {
  it('maps {code, message} with a negative 8-digit code to KakaocertError', () => {
    const err = errorFromResponse(response(400, '{"code":-81000010,"message":"접수아이디가 존재하지 않습니다."}'));
    expect(err).toBeInstanceOf(KakaocertError);
    expect(err).toMatchObject({ code: -81000010, message: '접수아이디가 존재하지 않습니다.', httpStatus: 400 });
  });

  it('accepts the code as a numeric string', () => {
    expect(errorFromResponse(response(400, '{"code":"-11000003","message":"m"}'))).toMatchObject({ code: -11000003 });
  });

  it.each([
    ['an HTML page', '<html>502 Bad Gateway</html>'],
    ['an empty body', ''],
    ['a 7-digit code', '{"code":-1100000,"message":"m"}'],
    ['a positive code', '{"code":11000003,"message":"m"}'],
    ['no message', '{"code":-11000003}'],
    ['a JSON array', '[-11000003]'],
    ['truncated JSON', '{"code":-11000003,"mess'],
  ])('turns %s into a transport error without echoing the body', (_name, body) => {
    const err = errorFromResponse(response(502, body, 'text/html'));
    expect(err).toBeInstanceOf(KakaocertTransportError);
    expect(err).toMatchObject({ kind: 'bad_response', httpStatus: 502, maybeReachedServer: true });
    if (body.length > 0) expect(err.message).not.toContain(body);
  });
});

describe('success bodies', () => {
  it('requires a JSON object', () => {
    expect(() => jsonObject(response(200, 'OK'))).toThrow(KakaocertTransportError);
    expect(() => jsonObject(response(200, 'null'))).toThrow(KakaocertTransportError);
  });

  const result = {
    receiptID: '02503010000000000001',
    clientCode: '020040000001',
    clientName: 'c',
    subClientName: null,
    subClientCode: null,
    state: 0,
    expires_in: 300,
    callCenterNum: '1600',
    tmstitle: 't',
    tmsmessage: null,
    allowSimpleRegistYN: false,
    verifyNameYN: true,
    requestDT: '20250301100000',
    expireDT: '20250301100500',
    regDT: '20250301100000',
    viewDT: null,
    completeDT: null,
    verifyDT: null,
    payload: null,
  };

  it('parses ResultCMS, reading receiptID with a capital ID', () => {
    expect(parseResultCMS(result)).toEqual(result);
    expect(() => parseResultCMS({ ...result, receiptID: undefined, receiptId: '1' })).toThrow(/receiptID/);
  });

  it('refuses a state outside 0, 1, 2 and a missing flag', () => {
    expect(() => parseResultCMS({ ...result, state: 3 })).toThrow(KakaocertTransportError);
    expect(() => parseResultCMS({ ...result, state: '1' })).toThrow(KakaocertTransportError);
    expect(() => parseResultCMS({ ...result, verifyNameYN: undefined })).toThrow(/verifyNameYN/);
  });

  it('requires signedData in base64url', () => {
    expect(parseVerifyResult({ receiptId: '1', signedData: 'MIIB_-x' })).toEqual({ receiptId: '1', signedData: 'MIIB_-x' });
    expect(() => parseVerifyResult({ receiptId: '1', signedData: 'MII B+/' })).toThrow(KakaocertTransportError);
    expect(() => parseVerifyResult({ receiptId: '1' })).toThrow(/signedData/);
  });
});

describe('parseKakaocertDateTime', () => {
  it('reads yyyyMMddHHmmss as KST', () => {
    expect(parseKakaocertDateTime('20250301100500')?.toISOString()).toBe('2025-03-01T01:05:00.000Z');
    expect(parseKakaocertDateTime(null)).toBeUndefined();
    expect(parseKakaocertDateTime('2025-03-01')).toBeUndefined();
  });
});
