// Operator command: reconciles one Asia/Seoul day of top-ups and withdrawals against Konaplate
// and the ledger postings recorded on them, prints the report and exits 1 when anything
// disagrees (docs/operators.md, "Reconciliation").
//
//   pnpm reconcile [--date YYYY-MM-DD]     (default: yesterday in Asia/Seoul)
//
// Reads DATABASE_URL (the funding schema, migrated by the service) and the KONAPLATE_* settings
// of the service; the ledger's entries come from the account service's internal LedgerService at
// KFRM_INTERNAL_TARGET_ACCOUNT, else KFRM_INTERNAL_TARGET, else 127.0.0.1:50052 (as deposit-cli),
// called as the funding service: run it beside the service with its internal certificate
// (KFRM_INTERNAL_TLS_CERT_FILE, _KEY_FILE, KFRM_INTERNAL_CA_CERT_FILE; FindEntriesByKeys serves
// funding only). Exit codes: 0 no mismatch, 1 mismatches (one line each), 2 usage, settings or
// an unreachable database / Konaplate (nothing was counted).
import { ConfigError } from '@kfrm/config';
import { openDatabase } from '@kfrm/db';
import { createLogger } from '@kfrm/logging';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { internalToolCredentials } from '@kfrm/runtime';
import { readFundingConfig, realKonaplateClient } from './funding.config';
import { FUNDING_SCHEMA, type FundingDatabase } from './funding.table';
import { grpcFundingLedger, type FundingLedger } from './ledger-port';
import { seoulDay } from './money-movement';
import { isReconciliationDay, reconcileDay, type ReconciliationReport } from './reconciliation';

const USAGE = 'usage: pnpm reconcile [--date YYYY-MM-DD]';

/** One line per mismatch and a summary: ids, kinds and amounts only, no personal data. */
export function formatReconciliationReport(report: ReconciliationReport): string[] {
  const lines = report.mismatches.map((m) =>
    [
      'MISMATCH',
      `day=${report.day}`,
      `kind=${m.kind}`,
      `movement_id=${m.movementId || '-'}`,
      `tran_id=${m.tranId}`,
      `movement_kind=${m.movementKind}`,
      `state=${m.state ?? '-'}`,
      `amount=${m.amountMinor}`,
      `konaplate_status=${m.konaplateStatus ?? '-'}`,
      `konaplate_amount=${m.konaplateAmount ?? '-'}`,
    ].join(' '),
  );
  lines.push(`reconciliation day=${report.day} checked=${report.checked} listed=${report.listed} mismatches=${report.mismatches.length}`);
  return lines;
}

export interface ReconcileCliIo {
  out: (line: string) => void;
  err: (line: string) => void;
  now?: () => Date;
  /** The ledger port (tests); else a LedgerService client at the internal target. */
  ledger?: FundingLedger;
}

const consoleIo: ReconcileCliIo = { out: (line) => console.log(line), err: (line) => console.error(line) };

/** Runs the command; returns the exit code. */
export async function runReconcileCli(
  argv: string[],
  env: Record<string, string | undefined> = process.env,
  io: ReconcileCliIo = consoleIo,
): Promise<number> {
  const now = io.now ?? (() => new Date());
  let day = seoulDay(new Date(now().getTime() - 86_400_000));
  const args = [...argv];
  while (args.length > 0) {
    const arg = args.shift()!;
    const value = arg === '--date' ? args.shift() : arg.startsWith('--date=') ? arg.slice('--date='.length) : undefined;
    if (value === undefined || !isReconciliationDay(value)) {
      io.err(USAGE);
      return 2;
    }
    day = value;
  }
  if (!env.DATABASE_URL) {
    io.err('DATABASE_URL is required: reconciliation reads the funding service database');
    return 2;
  }
  let config;
  try {
    config = readFundingConfig(env);
  } catch (err) {
    io.err(err instanceof ConfigError ? err.message : String(err));
    return 2;
  }
  if (config.konaplateUrl === undefined) {
    // The embedded sandbox lives inside the service process; a fresh one here would know nothing.
    io.err('KONAPLATE_URL is required: with the embedded sandboxes, the service reconciles by itself (KFRM_FUNDING_RECONCILE_INTERVAL_MS)');
    return 2;
  }
  const logger = createLogger({ service: 'funding-reconcile', level: env.LOG_LEVEL ?? 'info', destination: process.stderr });
  const db = await openDatabase({ databaseUrl: env.DATABASE_URL, applicationName: 'kfrm-reconcile', poolMax: 2 });
  const target = env.KFRM_INTERNAL_TARGET_ACCOUNT || env.KFRM_INTERNAL_TARGET || '127.0.0.1:50052';
  const client = io.ledger ? undefined : new LedgerServiceClient(target, internalToolCredentials(env));
  const ledger = io.ledger ?? grpcFundingLedger(() => client!, 15_000);
  try {
    const konaplate = await realKonaplateClient(config, logger);
    const deps = {
      db: db.kysely<FundingDatabase>(FUNDING_SCHEMA),
      konaplate,
      ledger,
      log: logger,
      now,
      onReconciliationMismatch: undefined,
    };
    const report = await reconcileDay(deps, day);
    for (const line of formatReconciliationReport(report)) io.out(line);
    return report.mismatches.length > 0 ? 1 : 0;
  } catch (err) {
    io.err(`reconciliation of ${day} failed, nothing was counted: ${err instanceof Error ? err.message : String(err)}`);
    return 2;
  } finally {
    client?.close();
    await db.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runReconcileCli(process.argv.slice(2));
}
