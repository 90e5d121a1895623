import { describe, expect, it } from 'vitest';
import { checkDerStructure } from './der';
import { nestedSequences, wrapDer as wrap } from '../testing/signing.fixtures';

const STRICT = { maxDepth: 32, allowIndefiniteLength: false };
const BER = { maxDepth: 32, allowIndefiniteLength: true };

describe('checkDerStructure', () => {
  it('accepts well-formed DER and reports its depth limit', () => {
    expect(checkDerStructure(nestedSequences(31), STRICT)).toEqual({ ok: true });
    expect(checkDerStructure(nestedSequences(32), STRICT)).toEqual({ ok: false, problem: 'too-deep' });
  });

  it('refuses a 10,000-deep nested SEQUENCE without exhausting the stack', () => {
    expect(checkDerStructure(nestedSequences(10_000), STRICT)).toEqual({ ok: false, problem: 'too-deep' });
    expect(checkDerStructure(nestedSequences(10_000), BER)).toEqual({ ok: false, problem: 'too-deep' });
  });

  it('counts nesting hidden inside OCTET STRING and BIT STRING contents (asn1js decodes them)', () => {
    const inOctets = wrap(0x30, wrap(0x04, nestedSequences(40)));
    expect(checkDerStructure(inOctets, STRICT)).toEqual({ ok: false, problem: 'too-deep' });
    const inBits = wrap(0x30, wrap(0x03, new Uint8Array([0x00, ...nestedSequences(40)])));
    expect(checkDerStructure(inBits, STRICT)).toEqual({ ok: false, problem: 'too-deep' });
    // Opaque bytes inside an OCTET STRING are fine.
    expect(checkDerStructure(wrap(0x30, wrap(0x04, new Uint8Array([0xff, 0x01, 0x02]))), STRICT)).toEqual({ ok: true });
  });

  it('refuses truncated input, lengths past the end and trailing bytes', () => {
    const good = nestedSequences(3);
    expect(checkDerStructure(good.subarray(0, good.length - 1), STRICT)).toEqual({ ok: false, problem: 'malformed' });
    expect(checkDerStructure(new Uint8Array([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x00]), STRICT)).toEqual({
      ok: false,
      problem: 'malformed',
    });
    expect(checkDerStructure(new Uint8Array([...good, 0x00]), STRICT)).toEqual({ ok: false, problem: 'malformed' });
    expect(checkDerStructure(new Uint8Array([]), STRICT)).toEqual({ ok: false, problem: 'malformed' });
    // Non-minimal length (0x81 0x02) is not DER.
    expect(checkDerStructure(new Uint8Array([0x30, 0x81, 0x02, 0x05, 0x00]), STRICT)).toEqual({ ok: false, problem: 'malformed' });
  });

  it('admits BER indefinite lengths only when asked, and needs their end-of-contents', () => {
    const indefinite = new Uint8Array([0x30, 0x80, 0x05, 0x00, 0x00, 0x00]);
    expect(checkDerStructure(indefinite, STRICT)).toEqual({ ok: false, problem: 'malformed' });
    expect(checkDerStructure(indefinite, BER)).toEqual({ ok: true });
    expect(checkDerStructure(indefinite.subarray(0, 4), BER)).toEqual({ ok: false, problem: 'malformed' });
    // Primitive values cannot be indefinite.
    expect(checkDerStructure(new Uint8Array([0x04, 0x80, 0x00, 0x00]), BER)).toEqual({ ok: false, problem: 'malformed' });
    const deepIndefinite = new Uint8Array([...Array.from({ length: 5000 }, () => [0x30, 0x80]).flat(), ...new Array(10_000).fill(0)]);
    expect(checkDerStructure(deepIndefinite, BER)).toEqual({ ok: false, problem: 'too-deep' });
  });
});
