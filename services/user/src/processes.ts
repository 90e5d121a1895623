import { failWith, InvalidArgumentError } from '@kfrm/errors';
import { verifySignedData, x509 } from '@kfrm/pki';
import type { UserDomainDeps } from './deps';
import { parseTransactionContext, selectPolicy, type FactorType, type SelectedPolicy } from './policy';
import { RUNNING_PROCESSES_MAX_ENTRIES, RunningProcessesMemory } from './running-processes-memory';
import { newProcessId, tokenHash } from './tokens';
import type { CreatedProcess, ProcessRecord, StoredAuthentication, TransactionTypeName, UserStatusName } from './user.model';
import {
  consumeDoneProcess,
  consumeDoneProcessReadingUser,
  findProcess,
  findTokenHolderAndProcess,
  findUserById,
  insertProcessForRecipient,
  insertProcessForUserToken,
  insertProcessIfAllowed,
  listPolicies,
  type NewProcess,
  type ProcessCandidate,
  type RecipientFacts,
  type StoredPolicy,
  type TokenHolder,
  updateProcessStepsIfUnchanged,
} from './user.repository';

/** A process for the holder of a user token who may use it on `deviceId` (see createProcessForUserToken). */
export interface ProcessForUserToken {
  userToken: string;
  deviceId: bigint;
  transactionType: TransactionTypeName;
  /** The context for a holder who is not one of `listedUserIds`. */
  transactionContext: string;
  listedUserIds: readonly bigint[];
  transactionContextIfListed: string;
}

/** What a process is created for. */
export interface ProcessToCreate {
  userId: bigint;
  transactionType: TransactionTypeName;
  transactionContext: string;
}

const MAX_PROCESS_ID_CHARS = 64;
/** As FindByUserToken: a longer string is no user token. */
const MAX_USER_TOKEN_CHARS = 512;
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

/**
 * The longest policies are used from memory. Operators change them rarely; a change reaches
 * every replica at most this long after it is committed (ADR 0015).
 */
export const MAX_POLICY_CACHE_MS = 10_000;
/**
 * Completion attempts before giving up: each failed compare-and-set means another completion of
 * the process succeeded, and a process has at most 8 steps, so this is never reached in practice.
 */
const MAX_COMPLETION_ATTEMPTS = 12;
const FACTOR_NAMES: ReadonlySet<string> = new Set(['PIN', 'PATTERN', 'BIO']);

/**
 * The opaque revision of a process: its steps as they are. Steps only go from READY to DONE, so
 * a process never returns to a revision it left: equal steps are an unchanged process.
 */
export function processRevision(process: Pick<ProcessRecord, 'authentications'>): string {
  return Buffer.from(JSON.stringify(process.authentications)).toString('base64url');
}

/** The steps a revision stands for; undefined when it is not one of ours (then the process is read). */
function stepsOfRevision(revision: string | undefined): StoredAuthentication[] | undefined {
  if (typeof revision !== 'string' || revision === '' || revision.length > 4096) return undefined;
  let steps: unknown;
  try {
    steps = JSON.parse(Buffer.from(revision, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(steps) || steps.length > 8) return undefined;
  const valid = steps.every((step: unknown) => {
    if (typeof step !== 'object' || step === null) return false;
    const { type, fallback, status, done_with } = step as Record<string, unknown>;
    return (
      typeof type === 'string' &&
      FACTOR_NAMES.has(type) &&
      typeof fallback === 'string' &&
      (fallback === 'NONE' || FACTOR_NAMES.has(fallback)) &&
      (status === 'READY' || status === 'DONE') &&
      (done_with === undefined || (typeof done_with === 'string' && FACTOR_NAMES.has(done_with)))
    );
  });
  // Whatever it claims, the write applies only if the stored steps are exactly these.
  return valid ? (steps as StoredAuthentication[]) : undefined;
}

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
  const policyCacheMs = Math.min(deps.policyCacheMs ?? MAX_POLICY_CACHE_MS, MAX_POLICY_CACHE_MS);
  /** Running processes this instance wrote last: the factor check's read of them (ADR 0020). */
  const running = new RunningProcessesMemory(deps.runningProcessesMemory ?? RUNNING_PROCESSES_MAX_ENTRIES);
  /** Enabled policies by transaction type, read at most policyCacheMs ago (monotonic clock). */
  const policyCache = new Map<TransactionTypeName, { until: number; policies: Promise<StoredPolicy[]> }>();

  function isRunning(process: ProcessRecord | undefined, now: Date): process is ProcessRecord {
    return process !== undefined && process.status !== 'DONE' && process.expiresAt > now;
  }

  function policiesFor(type: TransactionTypeName): Promise<StoredPolicy[]> {
    if (policyCacheMs <= 0) return listPolicies(db, type);
    const started = performance.now();
    const cached = policyCache.get(type);
    if (cached && cached.until > started) return cached.policies;
    // Concurrent misses share one read; a failed read is not kept.
    const policies = listPolicies(db, type);
    policyCache.set(type, { until: started + policyCacheMs, policies });
    policies.catch(() => {
      if (policyCache.get(type)?.policies === policies) policyCache.delete(type);
    });
    return policies;
  }

  /** The user must exist: checked on the paths that do not insert (the insert checks it itself). */
  async function requireUser(userId: bigint): Promise<void> {
    if (!(await findUserById(db, userId))) throw new InvalidArgumentError('no such user');
  }

  /** The steps a new process gets from its policy: every factor READY. */
  const readySteps = (policy: SelectedPolicy): StoredAuthentication[] =>
    policy.authentications.map((a) => ({ type: a.type, fallback: a.fallback, status: 'READY' }));

  /** A process just inserted: remembered as written (ADR 0020) and logged. */
  function recordCreated(created: CreatedProcess, policyId: string, now: Date): void {
    // The process alone, as a read of it answers (the name is the creation's answer only).
    const { userName: _name, ...process } = created;
    running.remember(process, now);
    logger.info(
      {
        user_id: created.userId.toString(),
        transaction_type: created.transactionType,
        policy_id: policyId,
        factors: created.authentications.map((a) => a.type),
      },
      'authentication process created',
    );
  }

  /**
   * The policy choice both creations share. `insert` runs the guarded insert for the chosen
   * policy; `settled` false means it inserted nothing for the user's or the policy's sake: a
   * cached policy that was changed or disabled is read again once; a second miss in a row means
   * operators are editing this very policy now, and a retry later settles it.
   */
  async function createFromPolicy<Answer>(
    input: ProcessToCreate,
    insert: (
      process: NewProcess,
      policy: StoredPolicy,
    ) => Promise<{ created: CreatedProcess | undefined; answer: Answer; settled: boolean }>,
  ): Promise<{ created: CreatedProcess | undefined; answer: Answer }> {
    const context = parseTransactionContext(input.transactionContext);
    for (let attempt = 0; attempt < 3; attempt++) {
      const policies = await policiesFor(input.transactionType);
      const policy = selectPolicy(policies, context);
      if (!policy || policy.authentications.length === 0) {
        // As before this path read the policies: an unknown user is told first.
        await requireUser(input.userId);
        if (!policy) throw createFailed('AUTHENTICATION_POLICY_NOT_FOUND', 'no authentication policy applies');
        throw createFailed('EMPTY_AUTHENTICATION_PROCESS', 'the authentication process is empty');
      }
      const now = clock();
      const outcome = await insert(
        {
          id: newProcessId(),
          userId: input.userId,
          transactionType: input.transactionType,
          transactionContext: input.transactionContext,
          authentications: readySteps(policy),
          now,
          expiresAt: new Date(now.getTime() + deps.processTtlMs),
        },
        policies.find((p) => p.id === policy.id)!,
      );
      if (outcome.settled) {
        if (outcome.created) recordCreated(outcome.created, policy.id, now);
        return { created: outcome.created, answer: outcome.answer };
      }
      await requireUser(input.userId);
      policyCache.delete(input.transactionType);
    }
    throw new Error('the authentication policies changed during every attempt to use them');
  }

  return {
    /** Drops the cached policies: the next process reads them again (tests, after changing them). */
    forgetPolicies(): void {
      policyCache.clear();
    },

    /**
     * Starts a process for the transaction: the first enabled policy of the type (by priority)
     * whose condition holds for the context decides the factors. AUTHENTICATION_POLICY_NOT_FOUND
     * when none holds, EMPTY_AUTHENTICATION_PROCESS when it lists no factor.
     *
     * The policies come from memory (at most MAX_POLICY_CACHE_MS old) and the process is one
     * INSERT … SELECT that checks the user and that the chosen policy is still enabled and
     * unchanged; when it inserts nothing, the user is checked and the policies read again.
     * The process comes with the user's name as that insert read it (ADR 0018).
     */
    async createProcess(input: ProcessToCreate): Promise<CreatedProcess> {
      const { created } = await createFromPolicy(input, async (process, policy) => {
        const created = await insertProcessIfAllowed(db, process, policy);
        return { created, answer: undefined, settled: created !== undefined };
      });
      // Settled only once inserted.
      return created!;
    },

    /**
     * As createProcess, only while `recipientUserId` is ACTIVATED (a transfer's recipient), in the
     * same statement, which also answers that user's status (null: no such user) and name as
     * FindByUserId would (ADR 0019). `created` is undefined when the recipient is not ACTIVATED.
     */
    async createProcessForRecipient(
      input: ProcessToCreate & { recipientUserId: bigint },
    ): Promise<{ created: CreatedProcess | undefined; recipient: RecipientFacts }> {
      const { created, answer } = await createFromPolicy(input, async (process, policy) => {
        const { created, recipient } = await insertProcessForRecipient(db, process, policy, input.recipientUserId);
        // Not inserted because of the recipient: answered, not retried. Otherwise (the user or
        // the policy) as createProcess.
        return { created, answer: recipient, settled: created !== undefined || recipient.status !== 'ACTIVATED' };
      });
      return { created, recipient: answer };
    },

    /**
     * A process for the holder of a user token, when they may use it on the calling device
     * (ACTIVATED and bound to `deviceId`), from one statement that finds the holder and inserts
     * (ADR 0021): with `transactionContextIfListed` when the holder is one of `listedUserIds`,
     * else with `transactionContext`; the policy follows the context as in createProcess.
     * undefined, and nothing inserted, when the token has no such holder. When the insert finds
     * the holder but not their candidate's policy as chosen (it says so, no read follows):
     * AUTHENTICATION_POLICY_NOT_FOUND, EMPTY_AUTHENTICATION_PROCESS, or a changed policy read
     * again.
     */
    async createProcessForUserToken(input: ProcessForUserToken): Promise<CreatedProcess | undefined> {
      const { userToken, deviceId, transactionType } = input;
      if (typeof userToken !== 'string' || userToken === '' || userToken.length > MAX_USER_TOKEN_CHARS) return undefined;
      const contexts = {
        unlisted: { text: input.transactionContext, value: parseTransactionContext(input.transactionContext) },
        listed: { text: input.transactionContextIfListed, value: parseTransactionContext(input.transactionContextIfListed) },
      };
      const userTokenHash = tokenHash(userToken);
      for (let attempt = 0; attempt < 3; attempt++) {
        const policies = await policiesFor(transactionType);
        const candidate = (context: { text: string; value: unknown }) => {
          const selected = selectPolicy(policies, context.value);
          return {
            transactionContext: context.text,
            authentications: selected ? readySteps(selected) : [],
            // An empty policy inserts nothing either: it is refused below, for its holder only.
            policy: selected && selected.authentications.length > 0 ? policies.find((p) => p.id === selected.id) : undefined,
            selected,
          };
        };
        const unlisted = candidate(contexts.unlisted);
        const listed = candidate(contexts.listed);
        const now = clock();
        const { holder, created } = await insertProcessForUserToken(
          db,
          { id: newProcessId(), transactionType, now, expiresAt: new Date(now.getTime() + deps.processTtlMs) },
          { userTokenHash, deviceId, listedUserIds: input.listedUserIds },
          { unlisted, listed } satisfies Record<string, ProcessCandidate>,
        );
        // No holder who may use the token here: the common refusal, answered by the insert itself.
        if (!holder) return undefined;
        const theirs = holder.listed ? listed : unlisted;
        if (created) {
          // Inserted only with their policy (the statement's guard), so it is there.
          recordCreated(created, theirs.policy!.id, now);
          return created;
        }
        // The holder's policy is missing, empty, or was changed since it was cached.
        if (!theirs.selected) throw createFailed('AUTHENTICATION_POLICY_NOT_FOUND', 'no authentication policy applies');
        if (theirs.selected.authentications.length === 0)
          throw createFailed('EMPTY_AUTHENTICATION_PROCESS', 'the authentication process is empty');
        policyCache.delete(transactionType);
      }
      throw new Error('the authentication policies changed during every attempt to use them');
    },

    /** The user's process while it can still be completed; RUNNING_PROCESS_NOT_FOUND otherwise. */
    async getRunningProcess(input: { processId: string; userId: bigint }): Promise<ProcessRecord> {
      if (!validId(input.processId)) throw runningNotFound();
      const now = clock();
      // As this instance last wrote it, when it did: the step that follows is a compare-and-set,
      // which reads afresh if the process moved elsewhere meanwhile.
      const remembered = running.find(input.processId, input.userId, now);
      if (remembered === 'expired') throw runningNotFound();
      if (remembered) return remembered;
      const process = await findProcess(db, input.processId, input.userId);
      if (!isRunning(process, now)) throw runningNotFound();
      return process;
    },

    /**
     * The holder of a user token and, when it is theirs and running, the process: one read for
     * a factor check by a caller without a session. No holder: neither; no running process of
     * theirs: the holder only. Never an error, so the caller decides how alike both refusals look.
     */
    async getRunningProcessForUserToken(input: {
      userToken: string;
      processId: string;
    }): Promise<{ user?: TokenHolder; process?: ProcessRecord }> {
      if (typeof input.userToken !== 'string' || input.userToken === '' || input.userToken.length > MAX_USER_TOKEN_CHARS) return {};
      // An id that cannot be one joins no process; the holder is still answered.
      const found = await findTokenHolderAndProcess(db, tokenHash(input.userToken), validId(input.processId) ? input.processId : '');
      if (!found) return {};
      return isRunning(found.process, clock()) ? found : { user: found.user };
    },

    /**
     * Records that the caller verified `type` for the process. A compare-and-set on the steps:
     * with `revision` (the process as the caller read it) one UPDATE, else a read and an UPDATE;
     * a completion that raced it in between makes it read again and decide anew. So racing
     * completions apply one after the other and each factor completes one step at most.
     */
    async completeAuthentication(input: {
      processId: string;
      userId: bigint;
      type: FactorType | undefined;
      revision?: string;
    }): Promise<ProcessRecord> {
      if (!validId(input.processId)) throw runningNotFound();
      const now = clock();
      let known = stepsOfRevision(input.revision);
      for (let attempt = 0; attempt < MAX_COMPLETION_ATTEMPTS; attempt++) {
        const fromRevision = known !== undefined;
        if (known === undefined) {
          const current = await findProcess(db, input.processId, input.userId);
          if (!isRunning(current, now)) throw runningNotFound();
          known = current.authentications;
        }
        const index = input.type === undefined ? -1 : stepFor(known, input.type);
        if (index < 0) {
          // Refused on the process as stored, never on the caller's copy (it may have expired since).
          if (fromRevision) {
            known = undefined;
            continue;
          }
          throw completeFailed('AUTHENTICATION_TYPE_NOT_DEFINED', 'this authentication is not part of the process');
        }
        const next = known.map((a, i) => (i === index ? { ...a, status: 'DONE' as const, done_with: input.type! } : a));
        const done = next.every((a) => a.status === 'DONE');
        const process = await updateProcessStepsIfUnchanged(db, {
          id: input.processId,
          userId: input.userId,
          expected: known,
          next,
          status: done ? 'DONE' : 'IN_PROGRESS',
          now,
        });
        if (process) {
          running.remember(process, now);
          logger.info({ user_id: input.userId.toString(), type: input.type, status: process.status }, 'authentication completed');
          return process;
        }
        // Completed by another call meanwhile, expired, or not this user's: read it again (and
        // no longer answer it from memory).
        running.forget(input.processId);
        known = undefined;
      }
      throw new Error('the authentication process kept changing while it was being completed');
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
     *
     * With `consume`, a verified signature also marks the DONE process of that type and context
     * used, in the statement that reads it (issue 17: the caller's read and consumption become
     * one). The signature is checked first, so a refused caller never spends the process.
     * `consumed` is then true when the process is used for exactly that type and context, now or
     * by an earlier call: a retry of the same transaction after a lost answer is told the same,
     * as it is without `consume` (which never looks at consumption).
     *
     * With `consume.recipientUserId` and a verified signature, that user's status is read by the
     * consume statement too and answered as `recipientStatus` (null: no such user), also when the
     * process was consumed earlier: the caller checks its recipient's standing next (ADR 0018).
     */
    async getProcess(input: {
      processId: string;
      userId: bigint;
      signedData: string;
      originData: string;
      consume?: { transactionType: TransactionTypeName; transactionContext: string; recipientUserId?: bigint };
    }): Promise<{ process: ProcessRecord; verified: boolean; consumed?: boolean; recipientStatus?: UserStatusName | null }> {
      if (!validId(input.processId)) throw processNotFound();
      const now = clock();
      if (!input.consume) {
        const process = await findProcess(db, input.processId, input.userId);
        if (!process || process.expiresAt <= now) throw processNotFound();
        return { process, verified: await signatureVerifies(input, now) };
      }
      const { transactionType, transactionContext, recipientUserId } = input.consume;
      const verified = await signatureVerifies(input, now);
      // Read only with a verified signature: an unverified caller is refused before its recipient is looked at.
      let recipient: { recipientStatus?: UserStatusName | null } = {};
      if (verified) {
        const target = { id: input.processId, userId: input.userId, transactionType, transactionContext, now };
        let consumed: ProcessRecord | undefined;
        if (recipientUserId === undefined) {
          consumed = await consumeDoneProcess(db, target);
        } else {
          const both = await consumeDoneProcessReadingUser(db, { ...target, otherUserId: recipientUserId });
          consumed = both.consumed;
          recipient = { recipientStatus: both.recipientStatus };
        }
        if (consumed) {
          logger.info({ user_id: input.userId.toString(), transaction_type: transactionType }, 'authentication process consumed');
          return { process: consumed, verified, consumed: true, ...recipient };
        }
      }
      const process = await findProcess(db, input.processId, input.userId);
      if (!process || process.expiresAt <= now) throw processNotFound();
      const usedForThis =
        verified &&
        process.status === 'DONE' &&
        process.consumedAt !== null &&
        process.transactionType === transactionType &&
        process.transactionContext === transactionContext;
      return { process, verified, consumed: usedForThis, ...recipient };
    },
  };

  /** Whether `signedData` is the user's active signing certificate's signature over exactly `originData`. */
  async function signatureVerifies(input: { userId: bigint; signedData: string; originData: string }, now: Date): Promise<boolean> {
    // TextEncoder gives the bytes their own ArrayBuffer; a small Buffer is a view into a shared
    // pool, and the CMS code hashes views by their underlying buffer.
    const origin = new TextEncoder().encode(input.originData);
    if (input.signedData === '' || origin.length === 0 || origin.length > MAX_ORIGIN_DATA_BYTES) return false;
    const active = await deps.signingCertificates.getActive(input.userId);
    if (!active) return false;
    let signingCa: x509.X509Certificate;
    try {
      signingCa = parsedSigningCa(active.issuerDer);
    } catch (err) {
      logger.error({ err, user_id: input.userId.toString() }, 'auth returned an unparseable signing CA');
      return false;
    }
    const result = await verifySignedData({
      signedData: input.signedData,
      expectedContent: origin,
      trustedSigner: active.certificateDer,
      signingCa,
      now,
    });
    if (!result.ok) logger.info({ user_id: input.userId.toString(), detail: result.detail }, 'signature not verified');
    return result.ok;
  }
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
