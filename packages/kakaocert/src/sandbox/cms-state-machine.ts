/**
 * The sandbox's CMS receipts and their states, driven by an injectable clock:
 *
 *   RequestCMS ──► 0 unconfirmed ──sign (before expireDT)──► 1 signed ──VerifyCMS (once)──► 1, verifyDT set
 *                        │
 *                        └── clock ≥ expireDT ──► 2 expired (computed when read, like a timer would)
 *
 * VerifyCMS on state 0 → NOT_SIGNED, on state 2 → EXPIRED, a second time → ALREADY_VERIFIED,
 * on another client's or an unknown receipt → RECEIPT_NOT_FOUND. A signed receipt stays
 * signed after its expireDT (the signature was made in time).
 */
import { randomInt } from 'node:crypto';
import type { SandboxErrorName } from './sandbox-error-codes';
import type { CheckedRequestCMS } from './sandbox-request-check';

export interface SandboxClient {
  clientCode: string;
  clientName: string;
  /** SubClientID → 별칭 name. */
  subClients?: Record<string, string>;
}

export interface SandboxReceipt {
  receiptId: string;
  clientCode: string;
  request: CheckedRequestCMS;
  createdAtMs: number;
  expiresAtMs: number;
  viewedAtMs?: number;
  signedAtMs?: number;
  verifiedAtMs?: number;
}

type Result<T> = { ok: true; value: T } | { ok: false; error: SandboxErrorName };

/** yyyyMMddHHmmss in KST (UTC+9), the zone assumed for ResultCMS date-times. */
export function kstDateTime(ms: number): string {
  const d = new Date(ms + 9 * 3600_000);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getUTCFullYear(), 4)}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

export class CmsStateMachine {
  private readonly receipts = new Map<string, SandboxReceipt>();

  constructor(
    private readonly clock: () => number,
    private readonly clients: Map<string, SandboxClient>,
  ) {}

  create(clientCode: string, request: CheckedRequestCMS): Result<SandboxReceipt> {
    const client = this.clients.get(clientCode);
    if (!client) return { ok: false, error: 'AUTH_CLIENT_UNKNOWN' };
    if (request.SubClientID !== null && client.subClients?.[request.SubClientID] === undefined) {
      return { ok: false, error: 'SUB_CLIENT_UNKNOWN' };
    }
    const now = this.clock();
    let receiptId: string;
    // 20 digits like kakaoCert's: the KST date, then 12 random digits.
    do
      receiptId =
        kstDateTime(now).slice(0, 8) + String(randomInt(0, 1_000_000)).padStart(6, '0') + String(randomInt(0, 1_000_000)).padStart(6, '0');
    while (this.receipts.has(receiptId));
    const receipt: SandboxReceipt = { receiptId, clientCode, request, createdAtMs: now, expiresAtMs: now + request.Expires_in * 1000 };
    this.receipts.set(receiptId, receipt);
    return { ok: true, value: receipt };
  }

  state(receipt: SandboxReceipt): 0 | 1 | 2 {
    if (receipt.signedAtMs !== undefined) return 1;
    return this.clock() >= receipt.expiresAtMs ? 2 : 0;
  }

  get(receiptId: string, clientCode?: string): SandboxReceipt | undefined {
    const receipt = this.receipts.get(receiptId);
    return receipt && (clientCode === undefined || receipt.clientCode === clientCode) ? receipt : undefined;
  }

  /** The user opened the KakaoTalk message. */
  view(receiptId: string): Result<SandboxReceipt> {
    const receipt = this.receipts.get(receiptId);
    if (!receipt) return { ok: false, error: 'RECEIPT_NOT_FOUND' };
    if (this.state(receipt) === 2) return { ok: false, error: 'EXPIRED' };
    receipt.viewedAtMs ??= this.clock();
    return { ok: true, value: receipt };
  }

  /** The user signed in KakaoTalk (sandbox control call). */
  sign(receiptId: string): Result<SandboxReceipt> {
    const receipt = this.receipts.get(receiptId);
    if (!receipt) return { ok: false, error: 'RECEIPT_NOT_FOUND' };
    const state = this.state(receipt);
    if (state === 2) return { ok: false, error: 'EXPIRED' };
    if (state === 1) return { ok: false, error: 'ALREADY_SIGNED' };
    const now = this.clock();
    receipt.viewedAtMs ??= now;
    receipt.signedAtMs = now;
    return { ok: true, value: receipt };
  }

  /** Marks the receipt verified (once); the server then signs its evidence (sandbox-signer.ts). */
  verify(clientCode: string, receiptId: string): Result<SandboxReceipt> {
    const receipt = this.get(receiptId, clientCode);
    if (!receipt) return { ok: false, error: 'RECEIPT_NOT_FOUND' };
    const state = this.state(receipt);
    if (state === 0) return { ok: false, error: 'NOT_SIGNED' };
    if (state === 2) return { ok: false, error: 'EXPIRED' };
    if (receipt.verifiedAtMs !== undefined) return { ok: false, error: 'ALREADY_VERIFIED' };
    receipt.verifiedAtMs = this.clock();
    return { ok: true, value: receipt };
  }

  /** ResultCMS as GET /SignDirectDebit/Status returns it (note `receiptID`). */
  resultCMS(receipt: SandboxReceipt): Record<string, unknown> {
    const client = this.clients.get(receipt.clientCode);
    const r = receipt.request;
    const dt = (ms: number | undefined) => (ms === undefined ? null : kstDateTime(ms));
    return {
      receiptID: receipt.receiptId,
      clientCode: receipt.clientCode,
      clientName: client?.clientName ?? '',
      subClientName: r.SubClientID === null ? null : (client?.subClients?.[r.SubClientID] ?? null),
      subClientCode: r.SubClientID,
      state: this.state(receipt),
      expires_in: r.Expires_in,
      callCenterNum: r.CallCenterNum,
      tmstitle: r.TMSTitle,
      tmsmessage: r.TMSMessage,
      allowSimpleRegistYN: r.isAllowSimpleRegistYN,
      verifyNameYN: r.isVerifyNameYN,
      requestDT: dt(receipt.createdAtMs),
      expireDT: dt(receipt.expiresAtMs),
      regDT: dt(receipt.createdAtMs),
      viewDT: dt(receipt.viewedAtMs),
      completeDT: dt(receipt.signedAtMs),
      verifyDT: dt(receipt.verifiedAtMs),
      payload: r.PayLoad,
    };
  }
}
