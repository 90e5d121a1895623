/**
 * Every Konaplate result code this package knows, with where it comes from. The client maps a
 * code to an error class through this table (errors.ts) and the sandbox answers with the same
 * HTTP status and message, so there is one list to correct when Konaplate publishes more.
 *
 * Only codes the seeds document, plus the two common refusal codes (000_002, 000_003). Seed
 * 001's test-data list has three more entries without codes (a second "before banking hours",
 * "system processing delay", "non-participating institution"); no code is invented for them:
 * if Konaplate answers one, the client reports it as an unknown code (never as success).
 * Refused header authentication has no documented code either: it is HTTP 401/403.
 */

export type KonaplateErrorKind =
  /** The request broke a documented rule (client-side check, 000_002, 000_003). */
  | 'invalid_request'
  /** 002_001: the account number has a wrong length or non-digits. */
  | 'invalid_account'
  /** 002_003: the holder's real name differs from the member's name. */
  | 'name_mismatch'
  /** 002_005: no account found for the member's birth date. */
  | 'holder_not_found'
  /** 002_007: no account with that number. */
  | 'account_not_found'
  /** 002_008, 002_009: the account exists but cannot be used (status, purpose). */
  | 'account_not_usable'
  /** 002_002, 002_004, 002_006: the bank side is not answering now; try later. */
  | 'bank_unavailable'
  /** Header authentication refused (HTTP 401/403). */
  | 'unauthorized'
  /** HTTP 5xx without a result code. */
  | 'server_error'
  /** The request never reached the server (connection refused, DNS failure). */
  | 'network'
  /** The request may have been processed; only a status check can tell. */
  | 'outcome_unknown'
  /** The response could not be understood (not JSON, wrong shape, undecryptable). */
  | 'protocol'
  /** A result code this table does not know. */
  | 'unknown_code';

export type ResultCodeSource =
  /** Listed with its code in seed 001 or 002. */
  | 'seed'
  /**
   * Konaplate's common codes for a refused request (missing or malformed parameter), seen on
   * its other API pages but not in the seeds; kept because the seeds name no code for a header
   * or field that breaks their own tables (docs/external-apis.md, "Where the seeds disagree").
   */
  | 'konaplate-docs';

export interface ResultCodeInfo {
  httpStatus: number;
  /** Konaplate's English message (the response's `description`). */
  message: string;
  /** The seed's Korean explanation, where there is one. */
  explanation?: string;
  kind: KonaplateErrorKind | 'success';
  source: ResultCodeSource;
}

export const SUCCESS_CODE = '000_000';

export const RESULT_CODES = {
  '000_000': { httpStatus: 200, message: 'Success.', explanation: '성공', kind: 'success', source: 'seed' },
  '000_002': {
    httpStatus: 400,
    message: 'Invalid input parameter.',
    explanation: '입력 파라미터 오류.',
    kind: 'invalid_request',
    source: 'konaplate-docs',
  },
  '000_003': {
    httpStatus: 400,
    message: 'Missing required values.',
    explanation: '필수 파라미터가 누락되었습니다.',
    kind: 'invalid_request',
    source: 'konaplate-docs',
  },
  '002_001': {
    httpStatus: 400,
    message: 'Bank account is length over limit or including not-number digit.',
    explanation: '계좌의 길이가 잘못되었거나 숫자가 아닌 값을 포함하고 있습니다.',
    kind: 'invalid_account',
    source: 'seed',
  },
  '002_002': {
    httpStatus: 400,
    message: 'No response name check api.',
    explanation: 'PG사와 통신 오류가 발생하여 계좌의 예금주 실명 조회 실패 했습니다.',
    kind: 'bank_unavailable',
    source: 'seed',
  },
  '002_003': {
    httpStatus: 400,
    message: 'Names are not matched.',
    explanation: '계좌의 예금주 실명과 회원의 실명이 다릅니다.',
    kind: 'name_mismatch',
    source: 'seed',
  },
  '002_004': {
    httpStatus: 400,
    message: 'Bank is not valid to check account info.',
    explanation: '은행 업무 개시 전으로 계좌 정보 수신 불가능 합니다.',
    kind: 'bank_unavailable',
    source: 'seed',
  },
  '002_005': {
    httpStatus: 400,
    message: 'User info not found.',
    explanation: '입력한 회원 정보(생년월일)로 은행 계좌 정보를 찾을 수 없습니다.',
    kind: 'holder_not_found',
    source: 'seed',
  },
  '002_006': {
    httpStatus: 400,
    message: 'Bank is not valid.',
    explanation: '은행의 서비스 가능 시간이 아님에 따라(시스템 점검/야간 지연 등) 계좌 정보 확인 불가능 합니다.',
    kind: 'bank_unavailable',
    source: 'seed',
  },
  '002_007': {
    httpStatus: 400,
    message: 'Bank account is not found.',
    explanation: '입력한 계좌 번호로 은행 계좌를 찾을 수 없습니다.',
    kind: 'account_not_found',
    source: 'seed',
  },
  '002_008': {
    httpStatus: 400,
    message: "Bank account's status is not valid.",
    explanation: '거래 불가 상태의 계좌입니다.',
    kind: 'account_not_usable',
    source: 'seed',
  },
  '002_009': {
    httpStatus: 400,
    message: "Bank account is not valid for holder's name check.",
    explanation: '입력한 계좌는 실명 확인 용도로 사용할 수 없습니다.',
    kind: 'account_not_usable',
    source: 'seed',
  },
} as const satisfies Record<string, ResultCodeInfo>;

export type KonaplateResultCode = keyof typeof RESULT_CODES;

export const RESULT_CODE_PATTERN = /^\d{3}_\d{3}$/;

export function isKnownResultCode(code: string): code is KonaplateResultCode {
  return Object.hasOwn(RESULT_CODES, code);
}

export function resultCodeInfo(code: string): ResultCodeInfo | undefined {
  return isKnownResultCode(code) ? RESULT_CODES[code] : undefined;
}
