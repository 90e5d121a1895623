/**
 * A positional reader of CMS SignedData (RFC 5652 §5) for the server's signature check. asn1js
 * plus pkijs's schema matching (`compareSchema`, `new pkijs.SignedData({schema})`, which also
 * builds a pkijs.Certificate for every embedded certificate) were most of a transfer's PKCS#7
 * check: ≈ 2.9 ms of CPU per verify next to ≈ 30–60 µs for the signature itself
 * (bench/cms-verify.ts). This walks the bytes once and hands back offsets into them.
 *
 * Input must already have passed `checkDerStructure` (lengths fit, depth bounded, BER indefinite
 * lengths closed): this reader recurses only to find the end of an indefinite-length value, as
 * deep as that check allowed, and never reads past an end it was given. It accepts what that check accepts (BER indefinite and long-form lengths, as Bouncy
 * Castle emits), and refuses — returns undefined — every shape that is not the RFC 5652 one.
 */

/** One TLV: offsets into the buffer it was read from. `cls` is the tag class (0 universal … 2 context). */
export interface Tlv {
  cls: number;
  constructed: boolean;
  tag: number;
  /** First byte of the identifier. */
  start: number;
  /** First byte of the contents. */
  contentStart: number;
  /** End of the contents (before the end-of-contents octets of an indefinite length). */
  contentEnd: number;
  /** First byte after the element. */
  end: number;
}

const UNIVERSAL = 0;
const CONTEXT = 2;
const INTEGER = 2;
const OCTET_STRING = 4;
const OBJECT_IDENTIFIER = 6;
const SEQUENCE = 16;
const SET = 17;

/** The TLV at `pos`, which must end by `limit`; undefined when it does not. */
export function readTlv(b: Uint8Array, pos: number, limit: number): Tlv | undefined {
  const start = pos;
  if (pos >= limit) return undefined;
  const first = b[pos++]!;
  const cls = first >> 6;
  const constructed = (first & 0x20) !== 0;
  let tag = first & 0x1f;
  if (tag === 0x1f) {
    tag = 0;
    for (let i = 0; ; i++) {
      if (pos >= limit || i >= 4) return undefined;
      const byte = b[pos++]!;
      tag = tag * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) break;
    }
  }
  if (pos >= limit) return undefined;
  const lengthByte = b[pos++]!;
  if (lengthByte === 0x80) {
    if (!constructed) return undefined;
    // Indefinite: the contents run to the end-of-contents octets after the last child.
    const contentStart = pos;
    for (;;) {
      if (pos + 1 >= limit) return undefined;
      if (b[pos] === 0 && b[pos + 1] === 0) return { cls, constructed, tag, start, contentStart, contentEnd: pos, end: pos + 2 };
      const child = readTlv(b, pos, limit);
      if (!child) return undefined;
      pos = child.end;
    }
  }
  let length = lengthByte;
  if (lengthByte > 0x80) {
    const count = lengthByte & 0x7f;
    if (count > 4) return undefined;
    length = 0;
    for (let i = 0; i < count; i++) {
      if (pos >= limit) return undefined;
      length = length * 256 + b[pos++]!;
    }
  }
  const end = pos + length;
  if (end > limit) return undefined;
  return { cls, constructed, tag, start, contentStart: pos, contentEnd: end, end };
}

/** The children of a constructed TLV; undefined when they do not exactly fill its contents. */
export function childrenOf(b: Uint8Array, parent: Tlv): Tlv[] | undefined {
  if (!parent.constructed) return undefined;
  const children: Tlv[] = [];
  for (let pos = parent.contentStart; pos < parent.contentEnd; ) {
    const child = readTlv(b, pos, parent.contentEnd);
    if (!child) return undefined;
    children.push(child);
    pos = child.end;
  }
  return children;
}

const is = (t: Tlv | undefined, cls: number, tag: number, constructed: boolean): t is Tlv =>
  t !== undefined && t.cls === cls && t.tag === tag && t.constructed === constructed;

export const content = (b: Uint8Array, t: Tlv): Uint8Array => b.subarray(t.contentStart, t.contentEnd);
export const whole = (b: Uint8Array, t: Tlv): Uint8Array => b.subarray(t.start, t.end);

/**
 * Dotted form of an OBJECT IDENTIFIER's contents, decoded as asn1js does (base-128 arcs, the
 * first split into two); undefined for an arc past 2^53 or a truncated one (no OID we know).
 */
export function oidString(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return undefined;
  const arcs: number[] = [];
  let value = 0;
  for (let i = 0; i < bytes.length; i++) {
    const byte = bytes[i]!;
    value = value * 128 + (byte & 0x7f);
    if (value > Number.MAX_SAFE_INTEGER) return undefined;
    if ((byte & 0x80) === 0) {
      if (arcs.length === 0) {
        if (value < 40) arcs.push(0, value);
        else if (value < 80) arcs.push(1, value - 40);
        else arcs.push(2, value - 80);
      } else arcs.push(value);
      value = 0;
    } else if (i === bytes.length - 1) return undefined;
  }
  return arcs.join('.');
}

function readOid(b: Uint8Array, t: Tlv | undefined): string | undefined {
  return is(t, UNIVERSAL, OBJECT_IDENTIFIER, false) ? oidString(content(b, t)) : undefined;
}

/** AlgorithmIdentifier ::= SEQUENCE { algorithm OID, parameters ANY OPTIONAL } */
function readAlgorithm(b: Uint8Array, t: Tlv | undefined): { oid: string; tlv: Tlv } | undefined {
  if (!is(t, UNIVERSAL, SEQUENCE, true)) return undefined;
  const parts = childrenOf(b, t);
  if (!parts || parts.length < 1 || parts.length > 2) return undefined;
  const oid = readOid(b, parts[0]);
  return oid === undefined ? undefined : { oid, tlv: t };
}

export interface CmsAttribute {
  type: string;
  values: Tlv[];
}

/** SET OF Attribute, Attribute ::= SEQUENCE { attrType OID, attrValues SET OF ANY } */
function readAttributes(b: Uint8Array, t: Tlv): CmsAttribute[] | undefined {
  const entries = childrenOf(b, t);
  if (!entries) return undefined;
  const attributes: CmsAttribute[] = [];
  for (const entry of entries) {
    if (!is(entry, UNIVERSAL, SEQUENCE, true)) return undefined;
    const parts = childrenOf(b, entry);
    if (parts?.length !== 2) return undefined;
    const type = readOid(b, parts[0]);
    if (type === undefined || !is(parts[1], UNIVERSAL, SET, true)) return undefined;
    const values = childrenOf(b, parts[1]);
    if (!values) return undefined;
    attributes.push({ type, values });
  }
  return attributes;
}

export type SignerIdentifier =
  /** IssuerAndSerialNumber: the issuer Name TLV and the serial INTEGER's contents. */
  | { kind: 'issuer-serial'; tlv: Tlv; issuer: Uint8Array; serial: Uint8Array }
  /** [0] SubjectKeyIdentifier, IMPLICIT (primitive) as RFC 5652 has it. */
  | { kind: 'key-id'; tlv: Tlv; keyId: Uint8Array }
  /** [0] in the constructed (EXPLICIT) form pkijs also reads: left to the pkijs comparison. */
  | { kind: 'other'; tlv: Tlv };

export interface CmsSignerInfo {
  tlv: Tlv;
  sid: SignerIdentifier;
  digestAlgorithm: string;
  /** The whole signatureAlgorithm AlgorithmIdentifier TLV, as received. */
  signatureAlgorithm: Uint8Array;
  /** The [0] IMPLICIT signed attributes TLV as received (undefined when absent). */
  signedAttributesTlv?: Tlv;
  signedAttributes?: CmsAttribute[];
  signature: Uint8Array;
}

export interface CmsSignedData {
  eContentType: string;
  /** The encapsulated content's bytes; undefined when detached; 'not-octets' when not an OCTET STRING. */
  eContent?: Uint8Array | 'not-octets';
  /** Each entry of `certificates [0] IMPLICIT CertificateSet` as received. */
  certificates: Tlv[];
  signerInfos: Tlv[];
}

/**
 * ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT ANY }: the content type and
 * the content TLV, or undefined when the bytes are not that shape.
 */
export function readContentInfo(b: Uint8Array): { contentType: string; content: Tlv } | undefined {
  const top = readTlv(b, 0, b.length);
  if (!is(top, UNIVERSAL, SEQUENCE, true) || top.end !== b.length) return undefined;
  const parts = childrenOf(b, top);
  if (parts?.length !== 2) return undefined;
  const contentType = readOid(b, parts[0]);
  if (contentType === undefined || !is(parts[1], CONTEXT, 0, true)) return undefined;
  const inner = childrenOf(b, parts[1]);
  if (inner?.length !== 1) return undefined;
  return { contentType, content: inner[0]! };
}

/**
 * SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo, certificates [0]
 * OPTIONAL, crls [1] OPTIONAL, signerInfos SET }. The crls (and unsigned attributes) are read
 * for shape only: nothing in them is used, and phones send none.
 */
export function readSignedData(b: Uint8Array, t: Tlv): CmsSignedData | undefined {
  if (!is(t, UNIVERSAL, SEQUENCE, true)) return undefined;
  const parts = childrenOf(b, t);
  if (!parts || parts.length < 4 || parts.length > 6) return undefined;
  const [version, digestAlgorithms, encap] = parts as [Tlv, Tlv, Tlv];
  if (!is(version, UNIVERSAL, INTEGER, false) || !is(digestAlgorithms, UNIVERSAL, SET, true)) return undefined;
  const digests = childrenOf(b, digestAlgorithms);
  if (!digests || digests.some((d) => !readAlgorithm(b, d))) return undefined;

  // EncapsulatedContentInfo ::= SEQUENCE { eContentType OID, eContent [0] EXPLICIT OCTET STRING OPTIONAL }
  if (!is(encap, UNIVERSAL, SEQUENCE, true)) return undefined;
  const encapParts = childrenOf(b, encap);
  if (!encapParts || encapParts.length < 1 || encapParts.length > 2) return undefined;
  const eContentType = readOid(b, encapParts[0]);
  if (eContentType === undefined) return undefined;
  let eContent: CmsSignedData['eContent'];
  if (encapParts.length === 2) {
    if (!is(encapParts[1], CONTEXT, 0, true)) return undefined;
    const inner = childrenOf(b, encapParts[1]);
    if (inner?.length !== 1) return undefined;
    eContent = octets(b, inner[0]!);
  }

  let certificates: Tlv[] = [];
  let next = 3;
  if (is(parts[next], CONTEXT, 0, true)) {
    const entries = childrenOf(b, parts[next]!);
    if (!entries) return undefined;
    certificates = entries;
    next++;
  }
  if (is(parts[next], CONTEXT, 1, true)) next++;
  if (next !== parts.length - 1 || !is(parts[next], UNIVERSAL, SET, true)) return undefined;
  const signerInfos = childrenOf(b, parts[next]!);
  if (!signerInfos) return undefined;
  return { eContentType, ...(eContent !== undefined ? { eContent } : {}), certificates, signerInfos };
}

/**
 * An OCTET STRING's value: primitive, or BER constructed of primitive OCTET STRING segments
 * (concatenated, as asn1js's getValue does). 'not-octets' for anything else.
 */
function octets(b: Uint8Array, t: Tlv): Uint8Array | 'not-octets' {
  if (t.cls !== UNIVERSAL || t.tag !== OCTET_STRING) return 'not-octets';
  if (!t.constructed) return content(b, t);
  const segments = childrenOf(b, t);
  if (!segments || segments.some((s) => !is(s, UNIVERSAL, OCTET_STRING, false))) return 'not-octets';
  return Buffer.concat(segments.map((s) => content(b, s)));
}

/**
 * SignerInfo ::= SEQUENCE { version, sid, digestAlgorithm, signedAttrs [0] IMPLICIT OPTIONAL,
 * signatureAlgorithm, signature OCTET STRING, unsignedAttrs [1] IMPLICIT OPTIONAL }
 */
export function readSignerInfo(b: Uint8Array, t: Tlv): CmsSignerInfo | undefined {
  if (!is(t, UNIVERSAL, SEQUENCE, true)) return undefined;
  const parts = childrenOf(b, t);
  if (!parts || parts.length < 5 || parts.length > 7) return undefined;
  if (!is(parts[0], UNIVERSAL, INTEGER, false)) return undefined;
  const sid = readSignerIdentifier(b, parts[1]!);
  const digest = readAlgorithm(b, parts[2]);
  if (!sid || !digest) return undefined;
  let next = 3;
  let signedAttributesTlv: Tlv | undefined;
  let signedAttributes: CmsAttribute[] | undefined;
  if (is(parts[next], CONTEXT, 0, true)) {
    signedAttributesTlv = parts[next]!;
    signedAttributes = readAttributes(b, signedAttributesTlv);
    if (!signedAttributes) return undefined;
    next++;
  }
  const signatureAlgorithm = readAlgorithm(b, parts[next++]);
  const signature = parts[next++];
  if (!signatureAlgorithm || !is(signature, UNIVERSAL, OCTET_STRING, false)) return undefined;
  if (next < parts.length) {
    if (!is(parts[next], CONTEXT, 1, true) || !readAttributes(b, parts[next]!)) return undefined;
    next++;
  }
  if (next !== parts.length) return undefined;
  return {
    tlv: t,
    sid,
    digestAlgorithm: digest.oid,
    signatureAlgorithm: whole(b, signatureAlgorithm.tlv),
    ...(signedAttributesTlv && signedAttributes ? { signedAttributesTlv, signedAttributes } : {}),
    signature: content(b, signature),
  };
}

function readSignerIdentifier(b: Uint8Array, t: Tlv): SignerIdentifier | undefined {
  if (t.cls === UNIVERSAL && t.tag === SEQUENCE && t.constructed) {
    // IssuerAndSerialNumber ::= SEQUENCE { issuer Name, serialNumber INTEGER }
    const parts = childrenOf(b, t);
    if (parts?.length !== 2 || !is(parts[0], UNIVERSAL, SEQUENCE, true) || !is(parts[1], UNIVERSAL, INTEGER, false)) return undefined;
    return { kind: 'issuer-serial', tlv: t, issuer: whole(b, parts[0]), serial: content(b, parts[1]) };
  }
  if (t.cls === CONTEXT && t.tag === 0) {
    return t.constructed ? { kind: 'other', tlv: t } : { kind: 'key-id', tlv: t, keyId: content(b, t) };
  }
  return undefined;
}
