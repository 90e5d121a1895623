import { PermissionDeniedError } from '@kfrm/errors';
import {
  ApprovalStatus,
  ApproveApiError,
  ApproveApiError_ErrorCode,
  type ApprovalRequest,
  OperatorApprovalServiceService,
  RejectApiError,
  RejectApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/user/operator_approval_internal';
import { apiErrorType, type CallContext, defineService, raises } from '@kfrm/server-kit';
import type { Approver, DecideCode, OperatorApproval, OperatorApprovals } from './operator-approval';

const STATUS: Record<OperatorApproval['status'], ApprovalStatus> = {
  PENDING: ApprovalStatus.APPROVAL_STATUS_PENDING,
  // Claimed by an approver, its call running: not pending any more.
  EXECUTING: ApprovalStatus.APPROVAL_STATUS_EXECUTED,
  EXECUTED: ApprovalStatus.APPROVAL_STATUS_EXECUTED,
  REJECTED: ApprovalStatus.APPROVAL_STATUS_REJECTED,
};

function toWire(a: OperatorApproval): ApprovalRequest {
  return {
    approvalId: a.approvalId,
    method: a.method,
    maker: a.maker,
    target: a.target,
    detail: a.detail,
    status: STATUS[a.status],
    createdAt: a.createdAt.toISOString(),
    decidedBy: a.decidedBy ?? '',
    decidedAt: a.decidedAt?.toISOString() ?? '',
    outcome: a.outcome ?? '',
  };
}

/** Deciding is a person's act: a call without an operator token (a service's) is refused. */
function approverOf(ctx: CallContext): Approver {
  const operator = ctx.principal.operator;
  if (!operator) throw new PermissionDeniedError('approvals are decided by an operator');
  return { subject: operator.subject, roles: operator.roles };
}

/** The roles that can decide some approval; each decision checks the request's own roles. */
const DECIDERS = ['teller', 'support'] as const;

export function operatorApprovalHandlers(approvals: OperatorApprovals) {
  return defineService(
    OperatorApprovalServiceService,
    {
      async submitApproval(r) {
        const approval = await approvals.submit({
          method: r.method,
          request: r.request,
          maker: r.maker,
          roles: r.roles,
          target: r.target,
          detail: r.detail,
        });
        return { request: toWire(approval) };
      },
      async listPendingApprovals() {
        return { requests: (await approvals.listPending()).map(toWire) };
      },
      async approve(r, ctx) {
        return { request: toWire(await approvals.approve(r.approvalId, approverOf(ctx))) };
      },
      async reject(r, ctx) {
        return { request: toWire(await approvals.reject(r.approvalId, approverOf(ctx))) };
      },
    },
    {
      // Made by the internal listener (a service call) when an operator's call needs approval.
      // The internal listener of whichever process holds an operator's call submits it (@kfrm/runtime); the rest is operators'.
      submitApproval: { access: 'internal', callers: ['*'], raises: raises() },
      listPendingApprovals: { access: 'internal', callers: [], operator: [...DECIDERS, 'auditor'], raises: raises() },
      approve: {
        access: 'internal',
        callers: [],
        operator: DECIDERS,
        audit: { action: 'operator.approval', target: (r) => `approval:${r.approvalId}` },
        errors: apiErrorType(ApproveApiError, ApproveApiError_ErrorCode),
        raises: raises<DecideCode>(),
      },
      reject: {
        access: 'internal',
        callers: [],
        operator: DECIDERS,
        audit: { action: 'operator.rejection', target: (r) => `approval:${r.approvalId}` },
        errors: apiErrorType(RejectApiError, RejectApiError_ErrorCode),
        raises: raises<DecideCode>(),
      },
    },
  );
}
