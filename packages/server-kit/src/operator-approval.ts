/**
 * Maker-checker (docs/operators.md, "Approvals"): a method declares when an operator's call of it
 * needs a second operator (`approval: { required(request) }` in define-service). Such a call is not
 * executed: the listener hands it to the approval desk (OperatorApprovalService) and answers
 * FAILED_PRECONDITION with the pending request's id in the trailer APPROVAL_ID_TRAILER. Calls by
 * services are never held (they are how an approved request is executed).
 */
export interface ApprovalPolicy<Req> {
  required(request: Req): boolean;
}

export interface ApprovalSubmission {
  method: string;
  /** The request message, serialized as on the wire. */
  request: Uint8Array;
  maker: string;
  roles: readonly string[];
  target: string;
  detail: Record<string, string>;
}

export interface ApprovalDesk {
  /** Stores the pending request; resolves to its id. */
  submit(submission: ApprovalSubmission): Promise<string>;
}

export const APPROVAL_ID_TRAILER = 'x-kfrm-approval-id';

/** The answer to a call that now waits for a second operator (gRPC FAILED_PRECONDITION). */
export class ApprovalPendingError extends Error {
  override name = 'ApprovalPendingError';
  constructor(readonly approvalId: string) {
    super(`approval ${approvalId} pending: a second operator approves it with OperatorApprovalService/Approve`);
  }
}
