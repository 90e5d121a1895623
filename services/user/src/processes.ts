import { failWith, InvalidArgumentError } from '@kfrm/errors';
import { verifySignedData, x509 } from '@kfrm/pki';
import type { UserDomainDeps } from './deps';
import { parseTransactionContext, selectPolicy, type FactorType } from './policy';
import { newProcessId } from './tokens';
import type { ProcessRecord, StoredAuthentication, TransactionTypeName } from './user.model';
import { consumeDoneProcess, findProcess, findUserById, insertProcess, listPolicies, updateProcessProgress } from './user.repository';

const MAX_PROCESS_ID_CHARS = 64;
/** Origin data is what a transfer signs: a few hundred bytes; far more is not a transfer. */
const MAX_ORIGIN_DATA_BYTES = 64 * 1024;

/*
 * The seed codes each use case raises. The handlers' policies check them against each method's
 * ApiError at compile time; each use case throws through its maker.
 */
export type CreateProcessCode = 'AUTHENTICATION_POLICY_NOT_FOUND' | 'EMPTY_AUTHENTICATION_PROCESS';
export type GetRunningProcessCode = 'RUNNING_PROCESS_NOT_FOUND';
export type CompleteAuthenticationCode = GetRunningProcessCode | 'AUTHENTICATION_TYPE_NOT_DEFINED';
export type GetProcessCode = 'AUTHENTICATION_PROCESS_NOT_FOUND';
export type ConsumeProcessCode = GetProcessCode | 'AUTHENTICATION_FAILED';

const createFailed = failWith<CreateProcessCode>();
const completeFailed = failWith<CompleteAuthenticationCode>();
const consumeFailed = failWith<ConsumeProcessCode>();

const processNotFound = () => failWith<GetProcessCode>()('AUTHENTICATION_PROCESS_NOT_FOUND', 'authentication process not found');
const runningNotFound = () => failWith<GetRunningProcessCode>()('RUNNING_PROCESS_NOT_FOUND', 'no running authentication process');

function validId(processId: string): boolean {
  return typeof processId === 'string' && processId !== '' && processId.length <= MAX_PROCESS_ID_CHARS;
}

/**
 * The step a factor completes: the first READY step of that type, else the first READY step
 * with it as fallback (so PIN goes to a PIN step before a "BIO, or PIN instead" step).
 */
export function stepFor(authentications: readonly StoredAuthentication[], type: FactorType): number {
  const primary = authentications.findIndex((a) => a.status === 'READY' && a.type === type);
  if (primary >= 0) return primary;
  return authentications.findIndex((a) => a.status === 'READY' && a.fallback === type);
}

/**
 * Authentication processes: created from the policy for a transaction, completed factor by
 * factor (READY → IN_PROGRESS → DONE), consumed once, and read with a signature check.
 */
export function createProcesses(deps: UserDomainDeps) {
  const clock = deps.now ?? (() => new Date());
  const { db, logger } = deps;

  function isRunning(process: ProcessRecord | undefined, now: Date): process is ProcessRecord {
    return process !== undefined && process.status !== 'DONE' && process.expiresAt > now;
  }

  return {
    /**
     * Starts a process for the transaction: the first enabled policy of the type (by priority)
     * whose condition holds for the context decides the factors. AUTHENTICATION_POLICY_NOT_FOUND
     * when none holds, EMPTY_AUTHENTICATION_PROCESS when it lists no factor.
     */
    async createProcess(input: {
      userId: bigint;
      transactionType: TransactionTypeName;
      transactionContext: string;
    }): Promise<ProcessRecord> {
      const context = parseTransactionContext(input.transactionContext);
      const user = await findUserById(db, input.userId);
      if (!user) throw new InvalidArgumentError('no such user');
      const policy = selectPolicy(await listPolicies(db, input.transactionType), context);
      if (!policy) throw createFailed('AUTHENTICATION_POLICY_NOT_FOUND', 'no authentication policy applies');
      if (policy.authentications.length === 0) throw createFailed('EMPTY_AUTHENTICATION_PROCESS', 'the authentication process is empty');
      const now = clock();
      const process = await insertProcess(db, {
        id: newProcessId(),
        userId: input.userId,
        transactionType: input.transactionType,
        transactionContext: input.transactionContext,
        policyId: policy.id,
        authentications: policy.authentications.map((a) => ({ type: a.type, fallback: a.fallback, status: 'READY' })),
        now,
        expiresAt: new Date(now.getTime() + deps.processTtlMs),
      });
      logger.info(
        {
          user_id: input.userId.toString(),
          transaction_type: input.transactionType,
          policy_id: policy.id,
          factors: policy.authentications.map((a) => a.type),
        },
        'authentication process created',
      );
      return process;
    },

    /** The user's process while it can still be completed; RUNNING_PROCESS_NOT_FOUND otherwise. */
    async getRunningProcess(input: { processId: string; userId: bigint }): Promise<ProcessRecord> {
      if (!validId(input.processId)) throw runningNotFound();
      const process = await findProcess(db, input.processId, input.userId);
      if (!isRunning(process, clock())) throw runningNotFound();
      return process;
    },

    /**
     * Records that the caller verified `type` for the process. The row is locked for the
     * read-modify-write, so racing completions apply one after the other and each factor
     * completes one step at most.
     */
    async completeAuthentication(input: { processId: string; userId: bigint; type: FactorType | undefined }): Promise<ProcessRecord> {
      if (!validId(input.processId)) throw runningNotFound();
      const now = clock();
      const process = await db.transaction().execute(async (trx) => {
        const current = await findProcess(trx, input.processId, input.userId, { forUpdate: true });
        if (!isRunning(current, now)) throw runningNotFound();
        const index = input.type === undefined ? -1 : stepFor(current.authentications, input.type);
        if (index < 0) throw completeFailed('AUTHENTICATION_TYPE_NOT_DEFINED', 'this authentication is not part of the process');
        const authentications = current.authentications.map((a, i) =>
          i === index ? { ...a, status: 'DONE' as const, done_with: input.type! } : a,
        );
        const done = authentications.every((a) => a.status === 'DONE');
        return updateProcessProgress(trx, current.id, done ? 'DONE' : 'IN_PROGRESS', authentications, done ? now : null);
      });
      logger.info({ user_id: input.userId.toString(), type: input.type, status: process.status }, 'authentication completed');
      return process;
    },

    /**
     * Marks a DONE process used, once. AUTHENTICATION_PROCESS_NOT_FOUND for unknown, expired or
     * another user's; AUTHENTICATION_FAILED when it is not DONE, is for another transaction type
     * or context (compared byte for byte), or was already used.
     */
    async consumeProcess(input: {
      processId: string;
      userId: bigint;
      transactionType: TransactionTypeName;
      transactionContext: string;
    }): Promise<ProcessRecord> {
      if (!validId(input.processId)) throw processNotFound();
      const now = clock();
      const consumed = await consumeDoneProcess(db, {
        id: input.processId,
        userId: input.userId,
        transactionType: input.transactionType,
        transactionContext: input.transactionContext,
        now,
      });
      if (consumed) {
        logger.info({ user_id: input.userId.toString(), transaction_type: input.transactionType }, 'authentication process consumed');
        return consumed;
      }
      const process = await findProcess(db, input.processId, input.userId);
      if (!process || process.expiresAt <= now) throw processNotFound();
      throw consumeFailed('AUTHENTICATION_FAILED', 'authentication failed');
    },

    /**
     * The user's process (another user's, unknown or expired: AUTHENTICATION_PROCESS_NOT_FOUND)
     * and whether `signedData` is a PKCS#7 signature over exactly `originData` by the user's
     * active signing certificate (from the auth service). Empty input or no active certificate
     * is simply not verified; auth being unreachable is UNAVAILABLE, never "not verified".
     */
    async getProcess(input: {
      processId: string;
      userId: bigint;
      signedData: string;
      originData: string;
    }): Promise<{ process: ProcessRecord; verified: boolean }> {
      if (!validId(input.processId)) throw processNotFound();
      const now = clock();
      const process = await findProcess(db, input.processId, input.userId);
      if (!process || process.expiresAt <= now) throw processNotFound();
      // TextEncoder gives the bytes their own ArrayBuffer; a small Buffer is a view into a shared
      // pool, and the CMS code hashes views by their underlying buffer.
      const origin = new TextEncoder().encode(input.originData);
      if (input.signedData === '' || origin.length === 0 || origin.length > MAX_ORIGIN_DATA_BYTES) return { process, verified: false };
      const active = await deps.signingCertificates.getActive(input.userId);
      if (!active) return { process, verified: false };
      let signingCa: x509.X509Certificate;
      try {
        signingCa = parsedSigningCa(active.issuerDer);
      } catch (err) {
        logger.error({ err, user_id: input.userId.toString() }, 'auth returned an unparseable signing CA');
        return { process, verified: false };
      }
      const result = await verifySignedData({
        signedData: input.signedData,
        expectedContent: origin,
        trustedSigner: active.certificateDer,
        signingCa,
        now,
      });
      if (!result.ok) logger.info({ user_id: input.userId.toString(), detail: result.detail }, 'signature not verified');
      return { process, verified: result.ok };
    },
  };
}

export type Processes = ReturnType<typeof createProcesses>;

/**
 * The signing CA as parsed, by its bytes: auth sends the same CA with every active certificate,
 * and parsing it was a share of each transfer's signature check. A few CAs at most (rotation).
 */
const signingCas = new Map<string, x509.X509Certificate>();
const MAX_SIGNING_CAS = 8;

function parsedSigningCa(der: Uint8Array): x509.X509Certificate {
  const key = Buffer.from(der).toString('base64');
  const known = signingCas.get(key);
  if (known) return known;
  const parsed = new x509.X509Certificate(der);
  if (signingCas.size >= MAX_SIGNING_CAS) signingCas.delete(signingCas.keys().next().value!);
  signingCas.set(key, parsed);
  return parsed;
}
