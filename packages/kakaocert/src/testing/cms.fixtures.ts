/** Shared by this package's tests (and usable by the funding service's): a valid RequestCMS. */
import type { RequestCMS } from '../types';

export const TEST_START_MS = Date.parse('2025-03-01T01:00:00.000Z');

export function validRequestCMS(overrides: Partial<Record<keyof RequestCMS, unknown>> = {}): RequestCMS {
  return {
    CallCenterNum: '1600-8536',
    Expires_in: 300,
    ReceiverBirthDay: '19800101',
    ReceiverHP: '01012345678',
    ReceiverName: '홍길동',
    BankAccountName: '홍길동',
    BankAccountNum: '3333012345678',
    BankCode: '090',
    ClientUserID: 'user-1',
    TMSTitle: '자동충전 출금동의',
    isAllowSimpleRegistYN: false,
    isVerifyNameYN: true,
    ...overrides,
  } as RequestCMS;
}

/** A clock tests move by hand; shared by the client and the sandbox. */
export function manualClock(startMs = TEST_START_MS): { now: () => number; advance(ms: number): void } {
  let nowMs = startMs;
  return {
    now: () => nowMs,
    advance(ms) {
      nowMs += ms;
    },
  };
}
