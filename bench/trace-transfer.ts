// Statement trace of one transfer (not a benchmark): the backend in its own process with
// BENCH_TRACE_SQL, two customers, one warm-up transfer, then one PIN and one biometric transfer
// with markers between their calls. Prints each call's statements.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     npx tsx bench/trace-transfer.ts
import './lib/bench-limits';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackendProcess } from './lib/backend-process';
import { openCustomerPair, type TransferFactor, transferOneKrw } from './lib/transfer-steps';

const dir = await mkdtemp(join(tmpdir(), 'kfrm-trace-'));
const traceFile = join(dir, 'sql.log');
process.env.BENCH_TRACE_SQL = traceFile;
const backend = await startBackendProcess({ authSettings: { secretChecksPerDeviceWindow: 1000 } });
let closeCustomers = () => {};
try {
  const pair = await openCustomerPair(backend, 'Trace');
  closeCustomers = pair.close;
  const [a, b] = pair.customers;
  const mark = (label: string) => `${readFileSync(traceFile, 'utf8').split('\n').filter(Boolean).length}:${label}`;
  const marks: string[] = [];
  const transfer = async (factor: TransferFactor, record: boolean) => {
    const at = (label: string) => record && marks.push(mark(label));
    at(`${factor} start`);
    await transferOneKrw(
      a,
      b,
      factor,
      async (step, call) => {
        const answer = await call();
        // The relays' and pollers' statements of this step land before the mark, not in the next step.
        await new Promise((r) => setTimeout(r, 300));
        at(`${factor} ${step} done`);
        return answer;
      },
      'trace',
    );
  };
  await transfer('PIN', false);
  await transfer('PIN', true);
  await transfer('BIO', true);
  const lines = readFileSync(traceFile, 'utf8').split('\n').filter(Boolean);
  let from = 0;
  for (const m of marks) {
    const [n, label] = [Number(m.slice(0, m.indexOf(':'))), m.slice(m.indexOf(':') + 1)];
    if (!label.endsWith('start')) {
      const own = lines.slice(from, n).filter((l) => !/outbox|relay|pg_advisory|lease_until < |polled/.test(l));
      console.log(`\n== ${label}: ${n - from} statements (${own.length} without background pollers)`);
      for (const l of lines.slice(from, n)) console.log(`  ${l.slice(14, 214)}`);
    }
    from = n;
  }
} finally {
  closeCustomers();
  await backend.stop();
  await rm(dir, { recursive: true, force: true });
}
