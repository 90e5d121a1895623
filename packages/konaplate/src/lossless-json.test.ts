import { describe, expect, it } from 'vitest';
import { isJsonObject, JsonNumber, JsonSyntaxError, parseJsonLossless, stringifyJson } from './lossless-json';

describe('lossless JSON', () => {
  it('writes a 19-digit id as a JSON number with every digit', () => {
    const text = stringifyJson({ userId: new JsonNumber('9999999999999999999'), name: '홍길동' });
    expect(text).toBe('{"userId":9999999999999999999,"name":"홍길동"}');
    // JSON.parse would round it, which is the reason for this module.
    expect(String(JSON.parse(text).userId)).not.toBe('9999999999999999999');
  });

  it('reads numbers back as their exact text', () => {
    const value = parseJsonLossless('{"userId": 9007199254740993123, "list": [1, -2.5e3, true, null, "a\\"b"]}');
    expect(isJsonObject(value)).toBe(true);
    if (!isJsonObject(value)) return;
    expect(value.userId).toBeInstanceOf(JsonNumber);
    expect((value.userId as JsonNumber).raw).toBe('9007199254740993123');
    expect(stringifyJson(value)).toBe('{"userId":9007199254740993123,"list":[1,-2.5e3,true,null,"a\\"b"]}');
  });

  it('keeps __proto__ as plain data', () => {
    const value = parseJsonLossless('{"__proto__": {"polluted": true}}');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // biome-ignore lint/suspicious/noProto: the test is about a JSON key named __proto__
    expect(isJsonObject(value) && isJsonObject(value.__proto__)).toBe(true);
  });

  it('refuses malformed text', () => {
    for (const bad of ['', '{', '{"a":1,}', '[1 2]', '01', '{"a":1} x', 'NaN', '"\u0001"', '['.repeat(100)]) {
      expect(() => parseJsonLossless(bad)).toThrow(JsonSyntaxError);
    }
  });

  it('refuses a JsonNumber that is not a number', () => {
    expect(() => new JsonNumber('12a')).toThrow(TypeError);
  });
});
