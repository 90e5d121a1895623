import { describe, expect, it } from 'vitest';
import {
  buildSignedHeaders,
  computeTranToken,
  createCorrelationId,
  formatTranTime,
  HEADER,
  isCorrelationId,
  parseTimestampDigits,
  parseTranToken,
  verifyTranTokenSignature,
} from './headers';

// 2025-01-02 03:04:05.678 UTC = 12:04:05.678 KST.
const AT = new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 678));

describe('timestamps', () => {
  it('writes Tran-Time in the requested zone', () => {
    expect(formatTranTime(AT, 'KST')).toBe('20250102120405');
    expect(formatTranTime(AT, 'UTC')).toBe('20250102030405');
  });

  it('reads digits back to the same instant and refuses impossible dates', () => {
    expect(parseTimestampDigits('20250102120405678', 'KST')?.getTime()).toBe(AT.getTime());
    expect(parseTimestampDigits('20250231120405', 'KST')).toBeUndefined();
    expect(parseTimestampDigits('20250102240000', 'UTC')).toBeUndefined();
  });
});

describe('correlation id', () => {
  it('is yyMMddHHmmss-xxxxxxx with 7 hex characters, 20 in all', () => {
    const id = createCorrelationId(AT, 'KST');
    expect(id).toMatch(/^250102120405-[0-9a-f]{7}$/);
    expect(id).toHaveLength(20);
    expect(isCorrelationId(id)).toBe(true);
  });

  it('refuses other forms', () => {
    for (const bad of [
      '250102120405-abcdefg',
      '250102120405-abc123',
      '2501021204051-abc1234',
      '251302120405-abc1234',
      '250102120405_abc1234',
    ]) {
      expect(isCorrelationId(bad)).toBe(false);
    }
  });
});

describe('Tran-Token', () => {
  // Expected value computed with: printf '%s' '{"userId":1000000001}' | openssl dgst -sha256 -hmac sandbox-secret-key -binary | base64
  const body = '{"userId":1000000001}';
  const signature = 'GKDkIWGkNtmV4/SGhVpqOLjPjXb1B1boaZCVL6OrNuU=';

  it('is KMV1:<17 digits>:<base64 HMAC-SHA256 of the body> (67 characters padded, 66 unpadded)', () => {
    const padded = computeTranToken('sandbox-secret-key', body, '20250102120405678');
    expect(padded).toBe(`KMV1:20250102120405678:${signature}`);
    expect(padded).toHaveLength(67);
    const unpadded = computeTranToken('sandbox-secret-key', body, '20250102120405678', 'unpadded');
    expect(unpadded).toBe(`KMV1:20250102120405678:${signature.slice(0, -1)}`);
    expect(unpadded).toHaveLength(66);
  });

  it('verifies both forms against the exact body and nothing else', () => {
    for (const form of ['padded', 'unpadded'] as const) {
      const token = parseTranToken(computeTranToken('sandbox-secret-key', body, '20250102120405678', form));
      expect(token?.form).toBe(form);
      expect(verifyTranTokenSignature('sandbox-secret-key', body, token!)).toBe(true);
      expect(verifyTranTokenSignature('sandbox-secret-key', `${body} `, token!)).toBe(false);
      expect(verifyTranTokenSignature('other-secret', body, token!)).toBe(false);
    }
    expect(parseTranToken(`KMV2:20250102120405678:${signature}`)).toBeUndefined();
    expect(parseTranToken(`KMV1:2025010212040567:${signature}`)).toBeUndefined();
  });

  it('takes every header timestamp from one instant', () => {
    const headers = buildSignedHeaders({
      credentials: { aspId: 'A'.repeat(15), accessKey: 'k'.repeat(40), secretKey: 'sandbox-secret-key' },
      body,
      at: AT,
      timeZone: 'KST',
      correlationId: '250102120405-abc1234',
      cryptoKeyId: 'c'.repeat(32),
    });
    expect(headers[HEADER.tranTime]).toBe('20250102120405');
    expect(headers[HEADER.tranToken]).toBe(`KMV1:20250102120405678:${signature}`);
    expect(headers[HEADER.timeZone]).toBe('KST');
    expect(headers[HEADER.cryptoKeyId]).toBe('c'.repeat(32));
    expect(headers[HEADER.aspId]).toHaveLength(15);
    expect(headers[HEADER.accessKey]).toHaveLength(40);
  });
});
