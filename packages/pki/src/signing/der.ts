/**
 * A structural pre-check of ASN.1 bytes before asn1js parses them: definite lengths that fit,
 * tags and lengths that are well formed, and a bounded nesting depth. asn1js parses recursively
 * (and also tries to parse the contents of every OCTET STRING and BIT STRING as nested ASN.1),
 * so a client-supplied blob decides how deep it goes; this walk decides first, with its own
 * recursion bounded by `maxDepth`, in O(length) time.
 *
 * `allowIndefiniteLength` admits BER indefinite-length constructed values: CMS producers such as
 * Bouncy Castle (Android) emit `30 80 … 00 00`. CSRs are always DER and are checked strictly.
 */
export interface DerCheckOptions {
  maxDepth: number;
  allowIndefiniteLength: boolean;
}

export type DerProblem = 'malformed' | 'too-deep';

const MALFORMED = -1;
const TOO_DEEP = -2;

export function checkDerStructure(bytes: Uint8Array, options: DerCheckOptions): { ok: true } | { ok: false; problem: DerProblem } {
  if (bytes.length === 0) return { ok: false, problem: 'malformed' };
  const end = readElement(bytes, 0, bytes.length, 1, options);
  if (end === TOO_DEEP) return { ok: false, problem: 'too-deep' };
  if (end !== bytes.length) return { ok: false, problem: 'malformed' }; // includes trailing bytes
  return { ok: true };
}

/** Reads one TLV at `pos` (within `end`); returns the position after it, or MALFORMED/TOO_DEEP. */
function readElement(b: Uint8Array, pos: number, end: number, depth: number, o: DerCheckOptions): number {
  if (depth > o.maxDepth) return TOO_DEEP;
  if (pos >= end) return MALFORMED;
  const first = b[pos]!;
  const constructed = (first & 0x20) !== 0;
  const tagClass = first >> 6;
  let tagNumber = first & 0x1f;
  pos += 1;
  if (tagNumber === 0x1f) {
    // High tag number form: base-128, at most 4 bytes, no leading 0x80 (minimal).
    tagNumber = 0;
    for (let i = 0; ; i++) {
      if (pos >= end || i >= 4) return MALFORMED;
      const byte = b[pos++]!;
      if (i === 0 && byte === 0x80) return MALFORMED;
      tagNumber = (tagNumber << 7) | (byte & 0x7f);
      if ((byte & 0x80) === 0) break;
    }
    if (tagNumber < 0x1f) return MALFORMED;
  }
  // Universal tag 0 is end-of-contents; it is only valid where readChildren looks for it.
  if (tagClass === 0 && tagNumber === 0) return MALFORMED;

  if (pos >= end) return MALFORMED;
  const lengthByte = b[pos++]!;
  if (lengthByte === 0x80) {
    if (!o.allowIndefiniteLength || !constructed) return MALFORMED;
    return readChildren(b, pos, end, depth + 1, o, true);
  }
  let length: number;
  if (lengthByte < 0x80) {
    length = lengthByte;
  } else {
    const count = lengthByte & 0x7f;
    if (count > 4 || count === 0x7f) return MALFORMED;
    length = 0;
    for (let i = 0; i < count; i++) {
      if (pos >= end) return MALFORMED;
      length = length * 256 + b[pos++]!;
    }
    // DER: the shortest length form. BER producers may pad, so only strict mode refuses it.
    if (!o.allowIndefiniteLength && (length < 0x80 || (count > 1 && length < 256 ** (count - 1)))) return MALFORMED;
  }
  const contentEnd = pos + length;
  if (contentEnd > end) return MALFORMED; // truncated
  if (constructed) {
    const after = readChildren(b, pos, contentEnd, depth + 1, o, false);
    return after < 0 ? after : contentEnd;
  }
  if (tagClass === 0 && (tagNumber === 3 || tagNumber === 4)) {
    // asn1js speculatively decodes OCTET/BIT STRING contents, so their nesting counts too. A
    // content that is not ASN.1 is just bytes (asn1js keeps it opaque); only depth matters here.
    const innerStart = tagNumber === 3 ? pos + 1 : pos;
    if (innerStart < contentEnd) {
      const inner = readChildren(b, innerStart, contentEnd, depth + 1, o, false);
      if (inner === TOO_DEEP) return TOO_DEEP;
    }
  }
  return contentEnd;
}

/** Reads elements until `end` (definite) or an end-of-contents marker (indefinite). */
function readChildren(b: Uint8Array, pos: number, end: number, depth: number, o: DerCheckOptions, untilEoc: boolean): number {
  if (depth > o.maxDepth) return TOO_DEEP;
  for (;;) {
    if (pos >= end) return untilEoc ? MALFORMED : pos;
    if (untilEoc && b[pos] === 0) {
      if (pos + 1 >= end || b[pos + 1] !== 0) return MALFORMED;
      return pos + 2;
    }
    const next = readElement(b, pos, end, depth, o);
    if (next < 0) return next;
    pos = next;
  }
}
