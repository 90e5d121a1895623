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

export interface ApiErrorType {
  readonly message: ApiErrorMessage;
  /** Code name → number, e.g. { APP_VERSION_NOT_FOUND: 0 } (a TypeScript enum object works). */
  readonly codes: Readonly<Record<string, string | number>>;
}

export function apiErrorType(message: ApiErrorMessage, codes: Readonly<Record<string, string | number>>): ApiErrorType {
  return { message, codes };
}

/** The code's number in this enum, or undefined when the enum has no such name. */
export function codeNumber(type: ApiErrorType, name: string): number | undefined {
  const value = type.codes[name];
  return typeof value === 'number' && value >= 0 ? value : undefined;
}
