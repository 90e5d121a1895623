/**
 * Just enough DER to build the sandbox's signedData and to read it back in tests. Not a
 * general ASN.1 library: definite lengths only, tags below 31.
 */

function encodeLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([tag]), encodeLength(content.length), content]);
}

export const sequence = (...items: Uint8Array[]) => tlv(0x30, Buffer.concat(items));
export const set = (...items: Uint8Array[]) => tlv(0x31, Buffer.concat(items));
export const octetString = (content: Uint8Array) => tlv(0x04, content);
export const utf8String = (text: string) => tlv(0x0c, Buffer.from(text, 'utf8'));
export const derNull = () => tlv(0x05, Buffer.alloc(0));
/** [n] EXPLICIT. */
export const explicit = (n: number, inner: Uint8Array) => tlv(0xa0 | n, inner);

export function integer(value: number): Buffer {
  if (!Number.isSafeInteger(value) || value < 0) throw new Error('der: only non-negative safe integers');
  const bytes: number[] = [];
  for (let n = value; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  if (bytes.length === 0 || (bytes[0]! & 0x80) !== 0) bytes.unshift(0);
  return tlv(0x02, Buffer.from(bytes));
}

export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new Error(`der: bad OID ${dotted}`);
  const out: number[] = [arcs[0]! * 40 + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = Math.floor(arc / 128); n > 0; n = Math.floor(n / 128)) chunk.unshift((n & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

export interface DerNode {
  tag: number;
  content: Buffer;
  /** Parsed children when the tag is constructed (bit 0x20). */
  children: DerNode[];
}

/** Parses one DER value covering all of `data` (throws on trailing bytes or bad lengths). */
export function readDer(data: Uint8Array, depth = 0): DerNode {
  const { node, end } = readAt(Buffer.from(data), 0, depth);
  if (end !== data.length) throw new Error('der: trailing bytes');
  return node;
}

function readAt(buf: Buffer, offset: number, depth: number): { node: DerNode; end: number } {
  if (depth > 32) throw new Error('der: nested too deeply');
  const tag = buf[offset];
  let lengthByte = buf[offset + 1];
  if (tag === undefined || lengthByte === undefined) throw new Error('der: truncated');
  if ((tag & 0x1f) === 0x1f) throw new Error('der: high tag numbers unsupported');
  let pos = offset + 2;
  let length = lengthByte;
  if (lengthByte & 0x80) {
    const count = lengthByte & 0x7f;
    if (count === 0 || count > 4) throw new Error('der: unsupported length');
    length = 0;
    for (let i = 0; i < count; i++) {
      lengthByte = buf[pos++];
      if (lengthByte === undefined) throw new Error('der: truncated');
      length = length * 256 + lengthByte;
    }
  }
  const end = pos + length;
  if (end > buf.length) throw new Error('der: truncated');
  const content = buf.subarray(pos, end);
  const children: DerNode[] = [];
  if (tag & 0x20) {
    for (let p = 0; p < content.length; ) {
      const child = readAt(content, p, depth + 1);
      children.push(child.node);
      p = child.end;
    }
  }
  return { node: { tag, content, children }, end };
}

export function decodeObjectIdentifier(content: Uint8Array): string {
  const bytes = Array.from(content);
  const first = bytes.shift();
  if (first === undefined) throw new Error('der: empty OID');
  const arcs = [Math.floor(first / 40), first % 40];
  let value = 0;
  for (const b of bytes) {
    value = value * 128 + (b & 0x7f);
    if ((b & 0x80) === 0) {
      arcs.push(value);
      value = 0;
    }
  }
  return arcs.join('.');
}
