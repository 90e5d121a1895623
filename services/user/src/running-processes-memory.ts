/**
 * The running authentication processes this instance wrote last (created, or moved a step of),
 * so that the factor check that follows — auth's GetRunningProcess, just before the step's
 * compare-and-set — need not read the process back (issue 17, ADR 0020).
 *
 * A process only moves forward (READY → IN_PROGRESS → DONE, steps READY → DONE, never back) and
 * every move is a compare-and-set on its steps (processRevision), so a remembered copy is at worst
 * behind: when another instance moved the process meanwhile, the step written from the copy does
 * not apply and the writer reads the process afresh and decides anew, exactly as after a race
 * between two calls. What a copy answers is therefore never more than the database could have
 * answered a moment earlier. Expiry is part of the copy (`expires_at` never changes); a DONE
 * process is forgotten (it has no step left to check). Bounded in size and age, like the
 * transfer service's pre-check memory; a restart, another instance or an eviction is a miss, and
 * a miss is the read it saves.
 */
import type { ProcessRecord } from './user.model';

export const RUNNING_PROCESSES_MAX_ENTRIES = 10_000;

export class RunningProcessesMemory {
  /** By process id, in insertion order (the first entry is the oldest written). */
  private readonly entries = new Map<string, ProcessRecord>();

  constructor(private readonly maxEntries = RUNNING_PROCESSES_MAX_ENTRIES) {}

  /** The process as this instance just wrote it; a DONE one is forgotten instead. */
  remember(process: ProcessRecord, now: Date): void {
    this.entries.delete(process.id);
    if (this.maxEntries <= 0 || process.status === 'DONE') return;
    this.entries.set(process.id, process);
    // Oldest first: expired ones, then beyond the bound.
    for (const [id, entry] of this.entries) {
      if (this.entries.size <= this.maxEntries && entry.expiresAt > now) break;
      this.entries.delete(id);
    }
  }

  forget(processId: string): void {
    this.entries.delete(processId);
  }

  /**
   * The user's remembered process: 'expired' when it is past its expiry (the database would say
   * so too), undefined when it is not remembered for this user (read it).
   */
  find(processId: string, userId: bigint, now: Date): ProcessRecord | 'expired' | undefined {
    const process = this.entries.get(processId);
    if (process === undefined || process.userId !== userId) return undefined;
    if (process.expiresAt > now) return process;
    this.entries.delete(processId);
    return 'expired';
  }
}
