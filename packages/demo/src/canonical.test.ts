import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { biometricChallenge, canonicalTransferBytes } from './canonical';

describe('what the app signs', () => {
  it('builds the test vector of docs/transfer-signing.md byte for byte', () => {
    const bytes = canonicalTransferBytes({
      processId: 'q1X8mYbQv3n0Zr2c7TtKpA',
      sourceAccountNumber: '3333-04718263590',
      targetInstitutionCode: '088',
      targetAccountNumber: '110-234-567890',
      amountMinor: 50_000n,
    });
    expect(bytes.length).toBe(201);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe('84a9d866835c97c9d1f3cd88e792dc96ffd70f1adbe145e4d4d7bda2bc88ca2a');
  });

  it('prefixes the biometric challenge with its scheme', () => {
    expect(new TextDecoder().decode(biometricChallenge('abc_-1'))).toBe('kfrm-biometric-v1:abc_-1');
  });
});
