/**
 * Error codes the sandbox answers with. kakaoCert and Linkhub publish only the format
 * (a negative 8-digit number, seed 003 A.1), not the list, so THESE CODES ARE INVENTED for the
 * sandbox: -11xxxxxx for authentication (Linkhub), -81xxxxxx for CMS request handling,
 * -99xxxxxx for server trouble. Code that must react to a specific kakaoCert condition should
 * key on these constants only through this table, so that real codes can be swapped in later.
 * The HTTP statuses are assumptions too (the SDK treats every non-200 alike).
 */
export const SANDBOX_ERRORS = {
  // Linkhub token endpoint
  AUTH_HEADER_INVALID: { code: -11000001, status: 401, message: 'Authorization header missing or not "LINKHUB {LinkID} {signature}"' },
  AUTH_LINK_ID_UNKNOWN: { code: -11000002, status: 401, message: 'unknown LinkID' },
  AUTH_SIGNATURE_MISMATCH: { code: -11000003, status: 401, message: 'signature does not match' },
  AUTH_DATE_INVALID: { code: -11000004, status: 401, message: 'x-lh-date missing, malformed or outside the allowed clock skew' },
  AUTH_VERSION_UNSUPPORTED: { code: -11000005, status: 400, message: 'x-lh-version must be 2.0' },
  AUTH_BODY_INVALID: { code: -11000006, status: 400, message: 'token request must be {"access_id": string, "scope": string[]}' },
  AUTH_CLIENT_UNKNOWN: { code: -11000007, status: 403, message: 'access_id is not a client code of this LinkID' },
  // Service calls: bearer token and x-kc-auth
  TOKEN_MISSING: { code: -11000010, status: 401, message: 'Authorization: Bearer token missing' },
  TOKEN_INVALID: { code: -11000011, status: 401, message: 'unknown or revoked session token' },
  TOKEN_EXPIRED: { code: -11000012, status: 401, message: 'session token expired' },
  TOKEN_SCOPE: { code: -11000013, status: 403, message: 'session token lacks the CMS scope (310)' },
  KC_AUTH_INVALID: { code: -11000014, status: 401, message: 'x-kc-auth missing or its signature does not match' },
  // CMS
  BODY_NOT_JSON: { code: -81000001, status: 400, message: 'request body is not a JSON object' },
  FIELD_REQUIRED: { code: -81000002, status: 400, message: 'a required field is missing' },
  FIELD_INVALID: { code: -81000003, status: 400, message: 'a field has an invalid type, length or format' },
  SUB_CLIENT_UNKNOWN: { code: -81000004, status: 400, message: 'SubClientID is not registered for this client' },
  RECEIPT_NOT_FOUND: { code: -81000010, status: 404, message: 'no such receipt for this client' },
  NOT_SIGNED: { code: -81000011, status: 400, message: 'the user has not signed yet (state 0)' },
  EXPIRED: { code: -81000012, status: 400, message: 'the request expired unsigned (state 2)' },
  ALREADY_VERIFIED: { code: -81000013, status: 400, message: 'VerifyCMS was already called for this receipt' },
  ALREADY_SIGNED: { code: -81000014, status: 409, message: 'already signed (sandbox control API)' },
  // Server
  NO_SUCH_API: { code: -99000404, status: 404, message: 'no such API' },
  INTERNAL: { code: -99000500, status: 500, message: 'internal server error (sandbox fault)' },
} as const;

export type SandboxErrorName = keyof typeof SANDBOX_ERRORS;
