import type { CodeOf } from '@kfrm/errors';

/**
 * A method's `…ApiError` message from the contract together with its `ErrorCode` enum, as
 * ts-proto generates them. Handlers declare one per method; the server kit uses it to put the
 * seed's error code into the status details.
 */
export interface ApiErrorMessage {
  readonly $type: string;
  encode(message: { code: number }): { finish(): Uint8Array };
  decode(input: Uint8Array): { code: number };
}

/** `Code`: the enum's code names, so a policy can be checked against what its handler raises. */
export interface ApiErrorType<Code extends string = string> {
  readonly message: ApiErrorMessage;
  /** Code name → number, e.g. { APP_VERSION_NOT_FOUND: 0 } (a TypeScript enum object works). */
  readonly codes: Readonly<Record<Code, string | number>> & Readonly<Record<string, string | number>>;
}

export function apiErrorType<E extends Readonly<Record<string, string | number>>>(
  message: ApiErrorMessage,
  codes: E,
): ApiErrorType<CodeOf<E>> {
  return { message, codes };
}

/** The code's number in this enum, or undefined when the enum has no such name. */
export function codeNumber(type: ApiErrorType, name: string): number | undefined {
  const value = type.codes[name];
  return typeof value === 'number' && value >= 0 ? value : undefined;
}

/** The code's name in this enum (the reverse of codeNumber), or undefined for a number it lacks. */
export function codeName<Code extends string>(type: ApiErrorType<Code>, value: number): Code | undefined {
  for (const [name, number] of Object.entries(type.codes)) if (number === value && name !== 'UNRECOGNIZED') return name as Code;
  return undefined;
}
