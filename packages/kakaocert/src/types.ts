/**
 * Wire types of the kakaoCert CMS (자동이체 출금동의) API, named exactly as seed 003 names them.
 * The request keys are PascalCase as in the seed's RequestCMS table (the public Node SDK posts
 * the caller's object as-is, so these are the names the server receives from it); the
 * responses keep the server's own spelling, including `receiptID` (capital ID) in ResultCMS
 * and `receiptId` in the RequestCMS and VerifyCMS answers.
 */

/** A.2 RequestCMS, plus `isAppUseYN` (AppToApp instead of a KakaoTalk message; SDK 2.x). */
export interface RequestCMS {
  /** 고객센터 전화번호, shown in the KakaoTalk message. Required, at most 20 characters. */
  CallCenterNum: string;
  /** Seconds until the request expires (state 2). Required, 1..1000 (300 recommended). */
  Expires_in: number;
  /** YYYYMMDD, a real date. Required. */
  ReceiverBirthDay: string;
  /** Mobile number, digits only (no hyphens). Required, at most 11 digits. */
  ReceiverHP: string;
  /** Required, at most 20 characters. */
  ReceiverName: string;
  /** 예금주명, at most 20 characters. */
  BankAccountName?: string;
  /** Withdrawal account; may be partly masked for display (e.g. 371-02-6***85). Required, ≤ 31. */
  BankAccountNum: string;
  /** 참가기관 코드 (KFTC participant code). Required, at most 10 characters. */
  BankCode: string;
  /** 납부자 식별번호: our id for the payer. Required, at most 40 characters. */
  ClientUserID: string;
  /** Title shown as "요청구분". Required, at most 40 characters. */
  TMSTitle: string;
  /** Extra text at the top of the message, at most 500 characters. */
  TMSMessage?: string;
  /** 별칭코드 registered on the admin site, at most 12 characters. */
  SubClientID?: string;
  /** true: certificate issued with phone verification only; false: with account possession. */
  isAllowSimpleRegistYN: boolean;
  /** true: kakaoPay compares the user's verified real name with ReceiverName. */
  isVerifyNameYN: boolean;
  /** Memo of ours, echoed back as `payload`, at most 200 characters. */
  PayLoad?: string;
  /** AppToApp flow instead of a KakaoTalk message. Sent as false when not given. */
  isAppUseYN?: boolean;
}

/** ResultCMS.state: 0 미확인 (not yet signed), 1 서명완료 (signed), 2 만료 (expired). */
export const CMS_STATE = { UNCONFIRMED: 0, SIGNED: 1, EXPIRED: 2 } as const;
export type CmsState = (typeof CMS_STATE)[keyof typeof CMS_STATE];

/** A.3 ResultCMS, as GET /SignDirectDebit/Status/{receiptID} returns it. */
export interface ResultCMS {
  receiptID: string;
  clientCode: string;
  clientName: string;
  subClientName: string | null;
  subClientCode: string | null;
  state: CmsState;
  expires_in: number;
  callCenterNum: string;
  tmstitle: string;
  tmsmessage: string | null;
  allowSimpleRegistYN: boolean;
  verifyNameYN: boolean;
  /** yyyyMMddHHmmss (assumed KST, see parseKakaocertDateTime). */
  requestDT: string | null;
  expireDT: string | null;
  regDT: string | null;
  viewDT: string | null;
  completeDT: string | null;
  verifyDT: string | null;
  payload: string | null;
}

/** A.4 VerifyResult. `signedData` base64url-decoded is the DER file submitted to KFTC. */
export interface VerifyResult {
  receiptId: string;
  signedData: string;
}

/** Linkhub token answer (POST /KAKAOCERT/Token). Only the fields we rely on are typed. */
export interface LinkhubToken {
  session_token: string;
  /** ISO-8601 UTC. */
  expiration: string;
  serviceID?: string;
  linkID?: string;
  usercode?: string;
  ipaddress?: string;
  scope?: string[];
}

/** Per-call options. */
export interface CallOptions {
  /** Overrides the client's timeout for this call (covers token fetch, send and body read). */
  timeoutMs?: number;
  /** Abort from the caller (e.g. the gRPC call was cancelled). */
  signal?: AbortSignal;
}
