/**
 * JSON with integers kept exact. Konaplate's `userId` is a JSON number of up to 19 digits, beyond
 * JavaScript's safe integer range (2^53), so `JSON.stringify`/`JSON.parse` would round it
 * (Node 20 has neither `JSON.rawJSON` nor the reviver's source text). We keep such numbers as
 * their decimal text: `JsonNumber` is written raw and `parseJsonLossless` returns every number
 * as a `JsonNumber`, so nothing is ever converted to a float on the way.
 */

export class JsonNumber {
  constructor(readonly raw: string) {
    if (!NUMBER_PATTERN.test(raw)) throw new TypeError('not a JSON number');
  }
  toJSON(): string {
    return this.raw;
  }
}

const NUMBER_PATTERN = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

export type JsonValue = null | boolean | string | JsonNumber | JsonValue[] | { [key: string]: JsonValue };

/** Like JSON.stringify for plain data, but a `JsonNumber` is written as its exact digits. */
export function stringifyJson(value: JsonValue | undefined): string {
  if (value === undefined) throw new TypeError('undefined is not JSON');
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (value instanceof JsonNumber) return value.raw;
  if (Array.isArray(value)) return `[${value.map((item) => stringifyJson(item)).join(',')}]`;
  const parts: string[] = [];
  for (const [key, item] of Object.entries(value)) {
    if (item === undefined) continue;
    parts.push(`${JSON.stringify(key)}:${stringifyJson(item)}`);
  }
  return `{${parts.join(',')}}`;
}

export class JsonSyntaxError extends Error {
  override name = 'JsonSyntaxError';
}

const MAX_DEPTH = 32;

/**
 * A strict RFC 8259 parser whose numbers are `JsonNumber`s. Strings are decoded by JSON.parse
 * itself (so escapes behave exactly as usual); objects get a null prototype so keys such as
 * `__proto__` are plain data.
 */
export function parseJsonLossless(text: string): JsonValue {
  let pos = 0;

  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at offset ${pos}`);
  };
  const skipWhitespace = () => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) pos++;
      else break;
    }
  };
  const parseString = (): string => {
    const start = pos;
    pos++; // opening quote
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x22) {
        pos++;
        return JSON.parse(text.slice(start, pos)) as string;
      }
      if (c === 0x5c) pos += 2;
      else if (c < 0x20) fail('control character in string');
      else pos++;
    }
    return fail('unterminated string');
  };
  const parseValue = (depth: number): JsonValue => {
    if (depth > MAX_DEPTH) fail('nesting too deep');
    skipWhitespace();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const out = Object.create(null) as { [key: string]: JsonValue };
      skipWhitespace();
      if (text[pos] === '}') {
        pos++;
        return out;
      }
      for (;;) {
        skipWhitespace();
        if (text[pos] !== '"') fail('expected a key');
        const key = parseString();
        skipWhitespace();
        if (text[pos] !== ':') fail('expected ":"');
        pos++;
        out[key] = parseValue(depth + 1);
        skipWhitespace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === '}') {
          pos++;
          return out;
        }
        fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const out: JsonValue[] = [];
      skipWhitespace();
      if (text[pos] === ']') {
        pos++;
        return out;
      }
      for (;;) {
        out.push(parseValue(depth + 1));
        skipWhitespace();
        if (text[pos] === ',') {
          pos++;
          continue;
        }
        if (text[pos] === ']') {
          pos++;
          return out;
        }
        fail('expected "," or "]"');
      }
    }
    if (c === '"') return parseString();
    if (text.startsWith('true', pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith('null', pos)) {
      pos += 4;
      return null;
    }
    const match = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(pos, pos + 400));
    if (match) {
      pos += match[0].length;
      return new JsonNumber(match[0]);
    }
    return fail('unexpected character');
  };

  const value = parseValue(0);
  skipWhitespace();
  if (pos !== text.length) fail('trailing characters');
  return value;
}

export function isJsonObject(value: JsonValue | undefined): value is { [key: string]: JsonValue } {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof JsonNumber);
}
