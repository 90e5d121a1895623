/**
 * Just enough strict DER for a SubjectPublicKeyInfo: definite, minimal lengths, single-byte tags,
 * every element exactly filling its parent. The parser never recurses (callers walk the fixed
 * SPKI shape), so a deeply nested or oversized input cannot exhaust the stack or the heap; it is
 * simply not the shape we accept.
 */
export class DerError extends Error {
  override readonly name = 'DerError';
}

export interface Tlv {
  tag: number;
  /** Offset of the first content byte. */
  start: number;
  /** Offset just past the last content byte. */
  end: number;
}

/** Reads one element at `offset` that must end at or before `limit`. */
export function readTlv(der: Uint8Array, offset: number, limit: number): Tlv {
  if (offset + 2 > limit) throw new DerError('truncated element');
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used here');
  const first = der[offset + 1]!;
  let length: number;
  let start: number;
  if (first < 0x80) {
    length = first;
    start = offset + 2;
  } else if (first === 0x81) {
    if (offset + 3 > limit) throw new DerError('truncated length');
    length = der[offset + 2]!;
    if (length < 0x80) throw new DerError('non-minimal length');
    start = offset + 3;
  } else if (first === 0x82) {
    if (offset + 4 > limit) throw new DerError('truncated length');
    length = (der[offset + 2]! << 8) | der[offset + 3]!;
    if (length < 0x100) throw new DerError('non-minimal length');
    start = offset + 4;
  } else {
    // 0x80 is BER's indefinite length; longer length forms mean more than 64 KiB.
    throw new DerError('unsupported length form');
  }
  const end = start + length;
  if (end > limit) throw new DerError('element overruns its parent');
  return { tag, start, end };
}

export function expectTag(tlv: Tlv, tag: number, what: string): Tlv {
  if (tlv.tag !== tag) throw new DerError(`${what}: unexpected tag 0x${tlv.tag.toString(16)}`);
  return tlv;
}

/** The magnitude bytes of a strictly encoded positive INTEGER (no sign byte, no padding). */
export function positiveInteger(der: Uint8Array, tlv: Tlv, what: string): Uint8Array {
  expectTag(tlv, 0x02, what);
  const bytes = der.subarray(tlv.start, tlv.end);
  if (bytes.length === 0) throw new DerError(`${what}: empty INTEGER`);
  if (bytes[0]! & 0x80) throw new DerError(`${what}: negative`);
  if (bytes[0] === 0) {
    if (bytes.length === 1) throw new DerError(`${what}: zero`);
    if (!(bytes[1]! & 0x80)) throw new DerError(`${what}: non-minimal INTEGER`);
    return bytes.subarray(1);
  }
  return bytes;
}

export function encodeTlv(tag: number, content: Uint8Array): Uint8Array {
  const n = content.length;
  let header: number[];
  if (n < 0x80) header = [tag, n];
  else if (n < 0x100) header = [tag, 0x81, n];
  else if (n < 0x10000) header = [tag, 0x82, n >> 8, n & 0xff];
  else throw new RangeError('element too long');
  const out = new Uint8Array(header.length + n);
  out.set(header, 0);
  out.set(content, header.length);
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** A positive INTEGER from magnitude bytes (adds the 0x00 sign byte when the top bit is set). */
export function encodePositiveInteger(magnitude: Uint8Array): Uint8Array {
  return encodeTlv(0x02, magnitude[0]! & 0x80 ? concat(new Uint8Array([0]), magnitude) : magnitude);
}

export const bytesEqual = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);
