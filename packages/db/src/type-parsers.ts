/**
 * Result parsing shared by the pg and PGlite paths, so both modes hand the same JS values to
 * callers. Money and ids must stay exact: int8 and numeric come back as strings, never floats.
 */

export const OID = {
  BYTEA: 17,
  INT8: 20,
  INT8_ARRAY: 1016,
  NUMERIC: 1700,
  NUMERIC_ARRAY: 1231,
} as const;

/** int8 and numeric: the exact decimal text. */
export const keepText = (value: string): string => value;

/**
 * Parses the text form of a one- or multi-dimensional array of a type whose elements never need
 * quoting (int8, numeric), keeping every element as a string: `{1,NULL,{2,3}}`.
 */
export function parseUnquotedArray(text: string): unknown[] {
  let pos = 0;
  // An optional dimension decoration: `[0:1]={...}`.
  if (text.startsWith('[')) pos = text.indexOf('=') + 1;

  const parseLevel = (): unknown[] => {
    if (text[pos] !== '{') throw new Error(`invalid array literal: ${text}`);
    pos++;
    const out: unknown[] = [];
    if (text[pos] === '}') {
      pos++;
      return out;
    }
    for (;;) {
      if (text[pos] === '{') {
        out.push(parseLevel());
      } else {
        let end = pos;
        while (end < text.length && text[end] !== ',' && text[end] !== '}') end++;
        const token = text.slice(pos, end).trim();
        out.push(token === 'NULL' ? null : token);
        pos = end;
      }
      const sep = text[pos++];
      if (sep === '}') return out;
      if (sep !== ',') throw new Error(`invalid array literal: ${text}`);
    }
  };
  return parseLevel();
}

/** pg returns bytea as a Buffer; PGlite would return a plain Uint8Array. Buffer works for both. */
export function parseBytea(text: string): Buffer {
  if (text.startsWith('\\x')) return Buffer.from(text.slice(2), 'hex');
  // `bytea_output = escape`: backslash escapes `\\` and `\ooo` (octal), everything else literal.
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] !== '\\') {
      bytes.push(text.charCodeAt(i));
    } else if (text[i + 1] === '\\') {
      bytes.push(0x5c);
      i++;
    } else {
      bytes.push(parseInt(text.slice(i + 1, i + 4), 8));
      i += 3;
    }
  }
  return Buffer.from(bytes);
}
