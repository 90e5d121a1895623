import { randomUUID } from 'node:crypto';
import { DependencyUnavailableError, failWith, PermissionDeniedError, UpstreamUnavailableError } from '@kfrm/errors';
import type { OperatorApprovalRepository } from './operator-approval.repository';

/**
 * Maker-checker (docs/operators.md, "Approvals"): an operator's call that needs a second operator
 * waits here; another operator holding one of the method's roles approves it (executed once) or
 * rejects it. The maker can do neither.
 */
export type OperatorApprovalStatus = 'PENDING' | 'EXECUTING' | 'EXECUTED' | 'REJECTED';

export interface OperatorApproval {
  approvalId: string;
  method: string;
  request: Uint8Array;
  maker: string;
  roles: string[];
  target: string;
  detail: Record<string, string>;
  status: OperatorApprovalStatus;
  createdAt: Date;
  decidedBy?: string;
  decidedAt?: Date;
  outcome?: string;
}

export interface Approver {
  subject: string;
  roles: readonly string[];
}

/**
 * Runs an approved call as this service (a service call: it is not held again). Resolves to the
 * outcome to record — `OK` or the refusal's `STATUS:CODE`; rejects with UpstreamUnavailableError
 * when the service could not be reached (the approval goes back to pending).
 */
export type ApprovedCallExecutor = (method: string, request: Uint8Array) => Promise<string>;

export type DecideCode = 'APPROVAL_NOT_FOUND' | 'APPROVAL_NOT_PENDING';
const fail = failWith<DecideCode>();

export function createOperatorApprovals(deps: {
  repository: OperatorApprovalRepository;
  execute: ApprovedCallExecutor;
  /** Methods an approval can execute: a submission for another is refused. */
  executable: ReadonlySet<string>;
  now?: () => Date;
}) {
  const now = deps.now ?? (() => new Date());

  async function decidable(approvalId: string, approver: Approver): Promise<OperatorApproval> {
    const found = /^[0-9a-f-]{36}$/.test(approvalId) ? await deps.repository.find(approvalId) : undefined;
    if (!found) throw fail('APPROVAL_NOT_FOUND', 'no such approval');
    if (found.maker === approver.subject) throw new PermissionDeniedError('the maker of a request cannot approve or reject it');
    if (!approver.roles.some((role) => found.roles.includes(role))) {
      throw new PermissionDeniedError(`deciding it requires the operator role ${found.roles.join(' or ')}`);
    }
    if (found.status !== 'PENDING') throw fail('APPROVAL_NOT_PENDING', `approval is ${found.status}`);
    return found;
  }

  return {
    async submit(input: Omit<OperatorApproval, 'approvalId' | 'status' | 'createdAt'>): Promise<OperatorApproval> {
      if (!deps.executable.has(input.method)) throw new PermissionDeniedError(`${input.method} is not approvable`);
      const approval: OperatorApproval = { ...input, approvalId: randomUUID(), status: 'PENDING', createdAt: now() };
      await deps.repository.insert(approval);
      return approval;
    },

    listPending: (limit = 100) => deps.repository.listPending(Math.min(Math.max(limit, 1), 500)),

    async approve(approvalId: string, approver: Approver): Promise<OperatorApproval> {
      await decidable(approvalId, approver);
      const claimed = await deps.repository.decide(approvalId, 'EXECUTING', approver.subject, now());
      if (!claimed) throw fail('APPROVAL_NOT_PENDING', 'approval was decided meanwhile');
      let outcome: string;
      try {
        outcome = await deps.execute(claimed.method, claimed.request);
      } catch (err) {
        await deps.repository.release(approvalId);
        if (err instanceof UpstreamUnavailableError || err instanceof DependencyUnavailableError) throw err;
        throw new DependencyUnavailableError('the approved call could not be executed', { cause: err });
      }
      return deps.repository.finish(approvalId, outcome);
    },

    async reject(approvalId: string, approver: Approver): Promise<OperatorApproval> {
      await decidable(approvalId, approver);
      const decided = await deps.repository.decide(approvalId, 'REJECTED', approver.subject, now());
      if (!decided) throw fail('APPROVAL_NOT_PENDING', 'approval was decided meanwhile');
      return decided;
    },
  };
}

export type OperatorApprovals = ReturnType<typeof createOperatorApprovals>;
