// Restarts under load (docs/reliability.md): phones keep making full transfers through the app
// SDK while the backend, Redis and PostgreSQL are each killed or stopped and brought back. Each
// fault: the surviving processes survive, health says NOT_SERVING while a dependency is down,
// the first new transfer succeeds within a bound. At the end, by SQL of the test's own: every
// balance equals the sum of its postings, money is conserved, no transfer is posted twice, every
// success a phone saw is posted and no refusal is, one outbox event per party, all relayed, and
// no notification missed on a stream.
import { ensureLocalOperatorIssuer, mintLocalOperatorToken } from '@kfrm/runtime';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '@kfrm/db';
import { devSecretsEnv, ensureDevSecrets } from '../../scripts/dev-certs';
import { BackendProcess } from './lib/backend-process';
import { AMOUNT_KRW, FUNDING_KRW, NotificationWatcher, setUpPhone, TransferLoad, type Phone } from './lib/bank-load';
import { freePort, sleep, waitFor } from './lib/free-port';
import { canRunPrivatePostgres, startPrivatePostgres, type PrivatePostgres } from './lib/private-postgres';
import { canRunPrivateRedis, startPrivateRedis, type PrivateRedis } from './lib/private-redis';

const PHONES = 6;
/** How long a dependency stays down in each fault. */
const OUTAGE_MS = 2_500;
/** Load before each fault, so the fault hits transfers in flight. */
const STEADY_MS = 2_000;
/** From the dependency's return to the first new successful transfer (issue: serves within 2 s; the transfer itself takes a few calls). */
const DEPENDENCY_RECOVERY_BOUND_MS = 8_000;
/** From the restart of a killed backend (tsx start on a loaded machine included). */
const BACKEND_RECOVERY_BOUND_MS = 45_000;

interface FaultReport {
  fault: string;
  recoveryMs: number;
  restartMs?: number;
  answers: Record<string, number>;
  healthDuringOutage?: string;
}

describe.skipIf(!canRunPrivatePostgres() || !canRunPrivateRedis())('restarts under load', () => {
  let postgres: PrivatePostgres;
  let redis: PrivateRedis;
  let backend: BackendProcess;
  let dir: string;
  let operatorToken: string;
  const phones: Phone[] = [];
  let watchers: NotificationWatcher[] = [];
  let load: TransferLoad;
  let db: DatabaseHandle | undefined;
  const reports: FaultReport[] = [];
  let loadStartedAt = 0;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'kfrm-fault-'));
    [postgres, redis] = await Promise.all([startPrivatePostgres(), startPrivateRedis()]);
    const secrets = await ensureDevSecrets(join(dir, 'secrets'), ['localhost', '127.0.0.1']);
    const [mobilePort, internalPort, metricsPort] = await Promise.all([freePort(), freePort(), freePort()]);
    // Real mode never invents keys: the operator issuer is made here, as start:split does.
    const operatorIssuerDir = join(dir, 'data', 'operator-issuer');
    await ensureLocalOperatorIssuer(operatorIssuerDir);
    operatorToken = await mintLocalOperatorToken(operatorIssuerDir, {
      roles: ['teller', 'kyc-reviewer'],
      subject: 'fault-test',
      ttlSeconds: 3600,
    });
    backend = new BackendProcess({
      mobilePort,
      internalPort,
      env: {
        DATABASE_URL: postgres.url,
        REDIS_URL: redis.url,
        KFRM_DATA_DIR: join(dir, 'data'),
        KFRM_OPERATOR_JWKS_FILE: join(operatorIssuerDir, 'jwks.json'),
        KFRM_MIGRATE_ON_START: 'true',
        KFRM_METRICS_LISTEN: `127.0.0.1:${metricsPort}`,
        // No back-office console: its default port (50060) is taken by whichever test started one
        // first (the split-edge test does), and the failed bind ended this backend.
        KFRM_BACK_OFFICE_LISTEN: 'off',
        ...devSecretsEnv(secrets),
        KFRM_FUNDING_SANDBOXES: 'true',
        // Every transfer is a PIN check on its phone: far more than a person makes in 10 minutes.
        KFRM_AUTH_SECRET_CHECKS_PER_DEVICE_WINDOW: '1000000',
        KFRM_SHUTDOWN_GRACE_MS: '1000',
        DB_POOL_MAX: '10',
        LOG_LEVEL: 'warn',
      },
    });
    await backend.start(120_000);
    const serverCaPem = readFileSync(secrets.serverCaCertFile);
    const address = `127.0.0.1:${mobilePort}`;
    for (let i = 0; i < PHONES; i += 3) {
      phones.push(
        ...(await Promise.all(
          [i, i + 1, i + 2]
            .filter((k) => k < PHONES)
            .map((k) => setUpPhone(k, address, serverCaPem, `127.0.0.1:${internalPort}`, operatorToken)),
        )),
      );
    }
    watchers = phones.map((phone) => new NotificationWatcher(phone));
    for (const watcher of watchers) watcher.open();
    load = new TransferLoad(phones, { executeGiveUpMs: 60_000, pauseMs: 100 });
    load.start();
    loadStartedAt = performance.now();
  }, 240_000);

  afterAll(async () => {
    await load?.stop();
    for (const watcher of watchers) watcher.close();
    for (const phone of phones) phone.app.close();
    await db?.close();
    await backend?.stop();
    await redis?.destroy();
    postgres?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (reports.length > 0) {
      console.log('\nrestarts under load — per fault:');
      console.log(
        '| fault | first new transfer after the return (ms) | backend restart (ms) | health while down | answers seen from the fault to that transfer |',
      );
      console.log('|---|---:|---:|---|---|');
      for (const r of reports) {
        const answers = Object.entries(r.answers)
          .map(([k, n]) => `${k} ×${n}`)
          .join(', ');
        console.log(
          `| ${r.fault} | ${r.recoveryMs.toFixed(0)} | ${r.restartMs?.toFixed(0) ?? '-'} | ${r.healthDuringOutage ?? '-'} | ${answers} |`,
        );
      }
    }
  }, 120_000);

  /** Counts the phones' answers from `from` to `to` by step and code. */
  function answersBetween(from: number, to: number): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const a of load.answers) {
      if (a.at < from || a.at > to) continue;
      const key = `${a.step} ${a.answer}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  async function firstSuccessAfter(since: number, boundMs: number): Promise<number> {
    const success = await waitFor('a successful transfer after the fault', boundMs, () => load.firstSuccessAfter(since), 20);
    return success.at;
  }

  /** Health of the backend's internal listener until it is `wanted` (or the time is up). */
  async function healthBecomes(wanted: string, timeoutMs: number): Promise<string> {
    let last = 'no answer';
    await waitFor(
      `health ${wanted}`,
      timeoutMs,
      async () => {
        last = await backend.health(500).catch(() => 'no answer');
        return last === wanted ? true : undefined;
      },
      100,
    ).catch(() => undefined);
    return last;
  }

  async function dependencyFault(name: string, breakIt: () => Promise<void> | void, restore: () => Promise<void> | void) {
    await sleep(STEADY_MS);
    const faultAt = performance.now();
    let healthDuringOutage: string;
    try {
      await breakIt();
      healthDuringOutage = await healthBecomes('NOT_SERVING', OUTAGE_MS);
      await sleep(Math.max(0, OUTAGE_MS - (performance.now() - faultAt)));
    } finally {
      await restore();
      // A backend that died is started again, so the faults after this one still run.
      if (!backend.running) await backend.start(BACKEND_RECOVERY_BOUND_MS);
    }
    const backAt = performance.now();
    const successAt = await firstSuccessAfter(backAt, DEPENDENCY_RECOVERY_BOUND_MS);
    reports.push({ fault: name, recoveryMs: successAt - backAt, answers: answersBetween(faultAt, successAt), healthDuringOutage });
    console.log(
      `${name}: fault at ${((faultAt - loadStartedAt) / 1000).toFixed(1)} s, back at ${((backAt - loadStartedAt) / 1000).toFixed(1)} s`,
    );
    expect(backend.unexpectedExits, 'the backend must survive the outage').toEqual([]);
    expect(healthDuringOutage).toBe('NOT_SERVING');
    expect(await healthBecomes('SERVING', 5_000)).toBe('SERVING');
  }

  it('backend SIGKILL and restart: transfers resume', async () => {
    await sleep(STEADY_MS);
    const faultAt = performance.now();
    await backend.kill();
    const restartAt = performance.now();
    const restartMs = await backend.start(BACKEND_RECOVERY_BOUND_MS);
    const successAt = await firstSuccessAfter(restartAt, BACKEND_RECOVERY_BOUND_MS);
    console.log(
      `backend SIGKILL: at ${((faultAt - loadStartedAt) / 1000).toFixed(1)} s, restarted at ${((restartAt - loadStartedAt) / 1000).toFixed(1)} s`,
    );
    reports.push({
      fault: 'backend SIGKILL + restart',
      recoveryMs: successAt - restartAt,
      restartMs,
      answers: answersBetween(faultAt, successAt),
    });
  }, 120_000);

  it('Redis SIGKILL and restart: the backend survives, says NOT_SERVING, and serves again', async () => {
    await dependencyFault(
      'Redis SIGKILL + restart',
      () => redis.kill(),
      () => redis.start(),
    );
  }, 60_000);

  it('PostgreSQL fast stop and start: the backend survives, says NOT_SERVING, and serves again', async () => {
    await dependencyFault(
      'PostgreSQL stop -m fast + start',
      () => postgres.stopFast(),
      () => postgres.start(),
    );
  }, 90_000);

  it('PostgreSQL SIGKILL and restart: the backend survives, says NOT_SERVING, and serves again', async () => {
    await dependencyFault(
      'PostgreSQL SIGKILL + restart',
      () => postgres.killAll(),
      () => postgres.start(),
    );
  }, 90_000);

  it('money is exact and every notification arrived', async () => {
    await sleep(STEADY_MS);
    await load.stop();
    expect(load.unresolved, 'every Execute reached a final answer').toEqual([]);
    // An outage is UNAVAILABLE, answered at once: never INTERNAL, never a call left to its deadline.
    const wrong = load.answers.filter(
      (a) => ['INTERNAL', 'UNKNOWN', 'DEADLINE_EXCEEDED'].includes(a.answer) || a.answer.startsWith('client error'),
    );
    expect(wrong.map((a) => `${a.step} ${a.answer} at ${((a.at - loadStartedAt) / 1000).toFixed(1)} s`)).toEqual([]);
    const successes = load.outcomes.filter((o) => o.answer === 'OK');
    expect(successes.length).toBeGreaterThan(0);

    db = await openDatabase({ databaseUrl: postgres.url, poolMax: 2 });
    const k = db.kysely();
    const rows = async <T>(query: ReturnType<typeof sql<T>>) => (await query.execute(k)).rows;

    // Every balance is the sum of its postings; double entry sums to zero; the customers hold what was deposited.
    expect(
      await rows(sql`select a.account_number from ledger.accounts a left join ledger.postings p on p.account_id = a.id
                     group by a.id having a.balance_minor <> coalesce(sum(p.amount_minor), 0)`),
    ).toEqual([]);
    expect(await rows(sql<{ total: string }>`select coalesce(sum(amount_minor), 0)::text as total from ledger.postings`)).toEqual([
      { total: '0' },
    ]);
    const accountNumbers = phones.map((p) => p.accountNumber);
    const [held] = await rows(
      sql<{
        total: string;
      }>`select sum(balance_minor)::text as total from ledger.accounts where account_number in (${sql.join(accountNumbers)})`,
    );
    expect(BigInt(held!.total)).toBe(FUNDING_KRW * BigInt(PHONES));

    // No transfer posted twice: one entry per idempotency key, two postings per transfer entry.
    expect(await rows(sql`select idempotency_key from ledger.entries group by 1 having count(*) > 1`)).toEqual([]);
    expect(
      await rows(
        sql`select e.id from ledger.entries e join ledger.postings p on p.entry_id = e.id where e.kind = 'TRANSFER' group by e.id having count(*) <> 2`,
      ),
    ).toEqual([]);

    // Every success a phone saw is posted; no refusal is.
    const transfers = await rows(
      sql<{ process_id: string; state: string; posted: boolean; amount_minor: string }>`select t.process_id, t.state, t.amount_minor::text,
        exists (select 1 from ledger.entries e where e.idempotency_key = t.id) as posted from transfer.transfers t`,
    );
    const byProcess = new Map(transfers.map((t) => [t.process_id, t]));
    for (const success of successes) {
      expect(byProcess.get(success.processId), `transfer of process ${success.processId}`).toMatchObject({
        state: 'SUCCEEDED',
        posted: true,
        amount_minor: AMOUNT_KRW.toString(),
      });
    }
    for (const refusal of load.outcomes.filter((o) => o.answer !== 'OK')) {
      expect(
        byProcess.get(refusal.processId)?.posted ?? false,
        `refused transfer of process ${refusal.processId} (${refusal.answer})`,
      ).toBe(false);
    }
    // Nothing posted that no phone was told about (each phone finished its Execute before stopping).
    const posted = transfers
      .filter((t) => t.posted)
      .map((t) => t.process_id)
      .sort();
    expect(posted).toEqual(successes.map((s) => s.processId).sort());

    // One outbox event per party of each transfer, all relayed.
    expect(
      await rows(sql`select e.id from ledger.entries e left join ledger.outbox o on o.entry_id = e.id where e.kind = 'TRANSFER'
                     group by e.id having count(o.id) <> 2 or count(distinct o.user_id) <> 2`),
    ).toEqual([]);
    await waitFor('the relay to reach the end of the outbox', 15_000, async () => {
      const [r] = await rows(
        sql<{
          relayed: boolean;
        }>`select (select last_id from notification.relay_cursor) >= coalesce((select max(id) from ledger.outbox), 0) as relayed`,
      );
      return r?.relayed ? true : undefined;
    });

    // No notification missed: each phone's stream got every event of its user (resuming from last-event-id where it broke).
    const missed: string[] = [];
    await waitFor('every event on its stream', 15_000, async () => {
      missed.length = 0;
      for (const [i, phone] of phones.entries()) {
        const events = await rows(
          sql<{ id: string }>`select id::text from ledger.outbox where user_id = ${phone.user.userId.toString()} order by id`,
        );
        for (const e of events) if (!watchers[i]!.has(BigInt(e.id))) missed.push(`user ${phone.user.userId} event ${e.id}`);
      }
      return missed.length === 0 ? true : undefined;
    }).catch(() => undefined);
    expect(missed, 'notifications missed').toEqual([]);
    expect(
      watchers.flatMap((w) => w.duplicates.map(String)),
      'no event twice on a stream',
    ).toEqual([]);
    console.log(
      `\n${successes.length} transfers succeeded, ${load.outcomes.length - successes.length} refused; streams reopened ${watchers.reduce((n, w) => n + w.ends.length, 0)} times`,
    );
  }, 120_000);
});
