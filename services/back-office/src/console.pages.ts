import type { AuditLogEntry } from '@kfrm/proto/gen/kfrm/api/user/audit_log_internal';
import { ApprovalStatus, type ApprovalRequest } from '@kfrm/proto/gen/kfrm/api/user/operator_approval_internal';
import { UserStatus } from '@kfrm/proto/gen/kfrm/api/common/user/status/user_status';
import { KycStatus } from '@kfrm/proto/gen/kfrm/api/user/user';
import type { CustomerSummary, GetKycDataResponse, KycReview } from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import { html, type Html } from './html';
import type { ConsoleSession } from './console.sessions';

/** The console's pages: plain HTML forms, no script (the CSP allows none), one stylesheet. */
export const STYLESHEET = `
body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1d2433;background:#f5f6f8}
header{background:#1d2433;color:#fff;padding:.6rem 1.2rem;display:flex;gap:1.2rem;align-items:center;flex-wrap:wrap}
header a{color:#cfe0ff;text-decoration:none}header strong{margin-right:1rem}
header form{margin-left:auto}main{padding:1.2rem;max-width:72rem}
table{border-collapse:collapse;background:#fff;width:100%}th,td{border:1px solid #d8dce3;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#eef1f5}pre{background:#fff;border:1px solid #d8dce3;padding:.8rem;white-space:pre-wrap;word-break:break-all}
form.inline{display:inline}label{display:block;margin:.4rem 0}input,select,textarea{font:inherit;padding:.25rem}
textarea{width:100%;min-height:6rem}button{font:inherit;padding:.3rem .8rem;cursor:pointer}
.notice{padding:.6rem .8rem;border-radius:4px;margin:0 0 1rem}.ok{background:#e3f6e8;border:1px solid #7cc48f}
.warn{background:#fff5db;border:1px solid #e4c35f}.err{background:#fde6e6;border:1px solid #e08c8c}
.dev{background:#fff0f0;border:2px dashed #d33;padding:.6rem}.muted{color:#667}code{font-size:.9em}
`;

export type Notice = { tone: 'ok' | 'warn' | 'err'; text: string | Html };

const NAV: Array<{ href: string; label: string }> = [
  { href: '/kyc', label: 'KYC review' },
  { href: '/customers', label: 'Customers' },
  { href: '/deposit', label: 'Deposit' },
  { href: '/approvals', label: 'Approvals' },
  { href: '/audit', label: 'Audit log' },
];

export const csrfField = (session: ConsoleSession) => html`<input type="hidden" name="_csrf" value="${session.csrf}">`;

export function layout(title: string, session: ConsoleSession | undefined, body: Html, notice?: Notice): string {
  const operator = session?.operator;
  return html`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${title} · KFRM back office</title><link rel="stylesheet" href="/console.css"></head>
<body><header><strong>KFRM back office</strong>
${operator ? NAV.map((n) => html`<a href="${n.href}">${n.label}</a>`) : ''}
${
  operator && session
    ? html`<form class="inline" method="post" action="/logout">${csrfField(session)}<span id="operator">${operator.subject}</span>
      <span class="muted">(${operator.roles.join(', ')})</span> <button type="submit">Sign out</button></form>`
    : ''
}
</header><main><h1>${title}</h1>
${notice ? html`<p class="notice ${notice.tone}" role="status">${notice.text}</p>` : ''}
${body}
</main></body></html>`.text;
}

export function signInPage(options: { session: ConsoleSession; oidc: boolean; tokenSignIn: boolean }): Html {
  return html`
${options.oidc ? html`<p><a href="/login/oidc" id="oidc-sign-in">Sign in with the bank's identity provider</a></p>` : ''}
${
  options.tokenSignIn
    ? html`<div class="dev"><p><strong>Development sign-in</strong> (embedded default and local runs only; disabled when an
identity provider is configured). Paste an operator token:</p>
<pre>npx pnpm@10 -s operator-token --role kyc-reviewer --role teller --sub alice</pre>
<form method="post" action="/login">${csrfField(options.session)}
<label>Operator token <textarea name="token" required autocomplete="off" spellcheck="false"></textarea></label>
<button type="submit">Sign in</button></form></div>`
    : ''
}
${!options.oidc && !options.tokenSignIn ? html`<p>No sign-in is configured (see docs/back-office.md).</p>` : ''}`;
}

export function homePage(session: ConsoleSession): Html {
  const op = session.operator!;
  return html`<p>Signed in as <strong>${op.subject}</strong> with the roles <strong>${op.roles.join(', ') || 'none'}</strong>
until ${op.expiresAt.toISOString()}.</p>
<p class="muted">Every action below is a call of the bank's internal API with your token: the method's roles, the second
operator's approval and the audit log apply as for any other operator tool.</p>
<ul>${NAV.map((n) => html`<li><a href="${n.href}">${n.label}</a></li>`)}</ul>`;
}

const kycName = (s: KycStatus) => KycStatus[s] ?? String(s);
const userStatusName = (s: UserStatus) => UserStatus[s] ?? String(s);

export function kycQueuePage(reviews: KycReview[]): Html {
  if (reviews.length === 0) return html`<p id="kyc-queue-empty">No customer is waiting for a KYC decision.</p>`;
  return html`<table id="kyc-queue"><thead><tr><th>User</th><th>KYC status</th><th>Submitted</th><th></th></tr></thead><tbody>
${reviews.map(
  (r) => html`<tr><td>${r.userId}</td><td>${kycName(r.kycStatus)}</td><td>${r.submittedAt || '—'}</td>
<td><a href="/kyc/${r.userId}" id="review-${r.userId}">Review</a></td></tr>`,
)}</tbody></table>`;
}

/** The submitted data as sent (pretty-printed when it is JSON), always as text. */
function readable(data: string): string {
  try {
    return JSON.stringify(JSON.parse(data), null, 2);
  } catch {
    return data;
  }
}

export function kycReviewPage(session: ConsoleSession, data: GetKycDataResponse): Html {
  return html`<table><tbody>
<tr><th>User</th><td>${data.userId}</td></tr><tr><th>Name</th><td>${data.userName}</td></tr>
<tr><th>User status</th><td>${userStatusName(data.userStatus)}</td></tr><tr><th>KYC status</th><td id="kyc-status">${kycName(data.kycStatus)}</td></tr>
<tr><th>Submitted</th><td>${data.submittedAt}</td></tr></tbody></table>
<h2>Submitted KYC data</h2><pre id="kyc-data">${readable(data.kycData)}</pre>
<h2>Decision</h2>
<form method="post" action="/kyc/${data.userId}/decision">${csrfField(session)}
<label>Decision <select name="decision"><option value="VERIFIED">Approve (VERIFIED)</option>
<option value="REJECTED">Reject (REJECTED)</option><option value="ON_HOLD">Put on hold (ON_HOLD)</option></select></label>
<label>Reason <input name="reason" maxlength="200" required></label>
<button type="submit" id="kyc-decide">Record decision</button></form>`;
}

export function customersPage(session: ConsoleSession, query: string, customer: CustomerSummary | undefined): Html {
  return html`<form method="get" action="/customers"><label>User id or customer id (C…)
<input name="q" value="${query}" required maxlength="20"></label><button type="submit">Look up</button></form>
${
  customer
    ? html`<table id="customer"><tbody>
<tr><th>User</th><td>${customer.userId}</td></tr><tr><th>Customer id</th><td>${customer.customerId || '—'}</td></tr>
<tr><th>Name</th><td>${customer.userName}</td></tr><tr><th>Phone</th><td>${customer.phoneNumber}</td></tr>
<tr><th>Status</th><td>${userStatusName(customer.userStatus)}</td></tr><tr><th>KYC</th><td>${kycName(customer.kycStatus)}</td></tr>
<tr><th>Device</th><td>${customer.deviceId === 0n ? '—' : customer.deviceId}</td></tr>
<tr><th>Joined</th><td>${customer.createdAt}</td></tr>${customer.withdrawnAt ? html`<tr><th>Withdrawn</th><td>${customer.withdrawnAt}</td></tr>` : ''}
</tbody></table>
${
  customer.userStatus === UserStatus.BLOCKED
    ? html`<h2>Unlock</h2><p class="muted">An unlock waits for a second operator's approval.</p>
<form method="post" action="/customers/${customer.userId}/unlock">${csrfField(session)}
<label>Reason <input name="reason" maxlength="200" required></label><button type="submit">Request unlock</button></form>`
    : ''
}`
    : ''
}`;
}

export function depositPage(session: ConsoleSession, idempotencyKey: string, thresholdNote: string): Html {
  return html`<p class="muted">${thresholdNote}</p>
<form method="post" action="/deposit">${csrfField(session)}<input type="hidden" name="idempotency_key" value="${idempotencyKey}">
<label>Account number <input name="account_number" required maxlength="32" autocomplete="off"></label>
<label>Amount (KRW) <input name="amount" required maxlength="20" inputmode="numeric"></label>
<label>Memo <input name="memo" maxlength="100" value="back-office deposit"></label>
<button type="submit" id="deposit-submit">Deposit</button></form>`;
}

const approvalStatus = (s: ApprovalStatus) => (ApprovalStatus[s] ?? String(s)).replace('APPROVAL_STATUS_', '');

export function approvalsPage(session: ConsoleSession, requests: ApprovalRequest[]): Html {
  if (requests.length === 0) return html`<p id="approvals-empty">No request is waiting for approval.</p>`;
  return html`<table id="approvals"><thead><tr><th>Requested</th><th>Method</th><th>Maker</th><th>Target</th><th>Detail</th><th></th></tr></thead><tbody>
${requests.map(
  (
    r,
  ) => html`<tr id="approval-${r.approvalId}"><td>${r.createdAt}</td><td><code>${r.method}</code></td><td>${r.maker}</td><td>${r.target}</td>
<td>${Object.entries(r.detail).map(([k, v]) => html`${k}=${v} `)}</td>
<td>${
    r.maker === session.operator?.subject
      ? html`<span class="muted">yours: another operator decides</span>`
      : html`<form class="inline" method="post" action="/approvals/${r.approvalId}/approve">${csrfField(session)}<button type="submit">Approve</button></form>
<form class="inline" method="post" action="/approvals/${r.approvalId}/reject">${csrfField(session)}<button type="submit">Reject</button></form>`
  }</td></tr>`,
)}</tbody></table>`;
}

export function approvalDecidedText(request: ApprovalRequest | undefined): string {
  if (!request) return 'Decided.';
  return `Request ${request.approvalId}: ${approvalStatus(request.status)}${request.outcome ? ` (${request.outcome})` : ''}.`;
}

export function auditPage(session: ConsoleSession, entries: AuditLogEntry[], verification?: Html): Html {
  const last = entries.at(-1);
  return html`<form method="post" action="/audit/verify">${csrfField(session)}<button type="submit" id="audit-verify">Verify the chain</button></form>
${verification ?? ''}
<table id="audit-log"><thead><tr><th>Seq</th><th>When</th><th>Actor</th><th>Action</th><th>Target</th><th>Outcome</th><th>Detail</th></tr></thead><tbody>
${entries.map(
  (e) => html`<tr><td>${e.seq}</td><td>${e.occurredAt}</td><td>${e.actorKind}: ${e.actor}</td><td>${e.action}</td><td>${e.target}</td>
<td>${e.outcome}</td><td>${Object.entries(e.detail).map(([k, v]) => html`${k}=${v} `)}</td></tr>`,
)}</tbody></table>
${last && last.seq > 1n ? html`<p><a href="/audit?before=${last.seq}">Older entries</a></p>` : ''}`;
}
