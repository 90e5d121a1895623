/**
 * The one place that reads a Konaplate response body.
 *
 * ASSUMED shape (Konaplate does not publish it): a JSON object whose result is
 * `{"response": {"code": "000_000", "description": "Success."}}` beside the data fields
 * (the shape public client code reads), or `code`/`description` at the top level, or the data
 * under `data`. An encrypted response is `{"encData": "<JWE>"}` whose plaintext is that same
 * object; a result outside the JWE is used when the plaintext has none. All of these are
 * accepted, so correcting the assumption later only changes what the sandbox sends.
 */
import { CipherError, type FieldCipher } from './cipher';
import { isJsonObject, JsonSyntaxError, parseJsonLossless, type JsonValue } from './lossless-json';
import { RESULT_CODE_PATTERN } from './result-codes';

export type JsonObject = { [key: string]: JsonValue };

export type ParsedEnvelope =
  | { type: 'result'; code: string; description?: string; data: JsonObject; encrypted: boolean }
  /** Not a Konaplate result (an HTML error page from a proxy, an empty body, no code). */
  | { type: 'no_result'; reason: string };

export class EnvelopeDecryptionError extends Error {
  override name = 'EnvelopeDecryptionError';
}

const RESULT_KEYS = new Set(['response', 'code', 'description', 'message', 'encData']);

export async function parseEnvelope(bodyText: string, cipher: FieldCipher | undefined): Promise<ParsedEnvelope> {
  let outer: JsonValue;
  try {
    outer = parseJsonLossless(bodyText);
  } catch (err) {
    if (err instanceof JsonSyntaxError) return { type: 'no_result', reason: 'body is not JSON' };
    throw err;
  }
  if (!isJsonObject(outer)) return { type: 'no_result', reason: 'body is not a JSON object' };

  let inner: JsonObject = outer;
  let encrypted = false;
  const encData = outer.encData;
  if (encData !== undefined) {
    if (typeof encData !== 'string') return { type: 'no_result', reason: 'encData is not a string' };
    if (!cipher) throw new EnvelopeDecryptionError('the response is encrypted but no cipher is configured');
    let plaintext: string;
    try {
      plaintext = await cipher.decrypt(encData);
    } catch (cause) {
      if (cause instanceof CipherError) throw new EnvelopeDecryptionError('cannot decrypt the response', { cause });
      throw cause;
    }
    let decrypted: JsonValue;
    try {
      decrypted = parseJsonLossless(plaintext);
    } catch {
      throw new EnvelopeDecryptionError('the decrypted response is not JSON');
    }
    if (!isJsonObject(decrypted)) throw new EnvelopeDecryptionError('the decrypted response is not a JSON object');
    inner = decrypted;
    encrypted = true;
  }

  const result = readResult(inner) ?? readResult(outer);
  if (!result) return { type: 'no_result', reason: 'no result code' };

  const data = isJsonObject(inner.data) ? inner.data : withoutResultKeys(inner);
  return { type: 'result', code: result.code, description: result.description, data, encrypted };
}

function readResult(object: JsonObject): { code: string; description?: string } | undefined {
  const holder = isJsonObject(object.response) ? object.response : object;
  const code = holder.code;
  if (typeof code !== 'string' || !RESULT_CODE_PATTERN.test(code)) return undefined;
  const description =
    typeof holder.description === 'string' ? holder.description : typeof holder.message === 'string' ? holder.message : undefined;
  return { code, description };
}

function withoutResultKeys(object: JsonObject): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(object)) if (!RESULT_KEYS.has(key)) out[key] = value;
  return out;
}
