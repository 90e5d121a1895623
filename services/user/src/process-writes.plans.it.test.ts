import { migrateSchema } from '@kfrm/db';
import { openTestDatabase } from '@kfrm/db/test-database';
import { planCacheReport, statementKinds } from '@kfrm/db/testing/plan-cache.harness';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { migrations } from './migrations';
import {
  consumeDoneProcessReadingUser,
  insertProcessForRecipient,
  insertProcessIfAllowed,
  listPolicies,
  updateProcessStepsIfUnchanged,
} from './user.repository';
import { USER_SCHEMA, type StoredAuthentication, type UserDatabase } from './user.table';

// Calls one at a time never use the batched statements of the process writes (ADR 0027), so the
// hot paths' plan check (packages/backend statement-plans.it.test.ts) does not see them. A batched
// statement whose custom plan, knowing its arrays, looks cheaper than the generic one is planned
// afresh at every execution, for good (`hiddenArray`); on a handful of rows every plan costs the
// same, so the tables hold a bank's worth first.
const ROUNDS = 12;
const USERS = 20_000;

describe.skipIf(!process.env.DATABASE_URL)('the batched process writes settle on a cached plan', () => {
  it('rounds of four to seven creations, completions and consumptions at once, on one connection: no statement planned afresh each time', async () => {
    const single = await openTestDatabase({ backend: 'postgres', poolMax: 1 });
    try {
      await migrateSchema(single, { schema: USER_SCHEMA, migrations });
      const db = single.kysely<UserDatabase>(USER_SCHEMA);
      await sql`
        insert into users.users (status, idp_type, idp_name, user_name, phone_number, user_ci, user_token_hash,
          device_id, device_uuid, created_at, updated_at)
        select 'ACTIVATED', 'test', 'test', 'user ' || n, '010-0000-0000', 'ci-' || n, lpad(to_hex(n), 64, '0'),
          n, 'device-' || n, now(), now()
        from generate_series(1, ${sql.lit(USERS)}) as n;
        insert into users.processes (id, user_id, transaction_type, transaction_context, policy_id, status,
          authentications, created_at, expires_at, completed_at, consumed_at)
        select 'old-' || u.id, u.id, 'LOGIN', '{}', (select min(id) from users.authentication_policies), 'DONE', '[]',
          now(), now(), now(), now()
        from users.users as u;
        analyze users.users;
        analyze users.processes`.execute(db);
      const policy = (await listPolicies(db, 'TRANSFER'))[0]!;
      const ready = (policy.authentications as Omit<StoredAuthentication, 'status'>[]).map((a) => ({ ...a, status: 'READY' as const }));
      const done = ready.map((a) => ({ ...a, status: 'DONE' as const, done_with: a.type }));
      const now = new Date();
      const expiresAt = new Date(now.getTime() + 60_000);
      const context = '{"to":"110-123-456789"}';

      for (let round = 0; round < ROUNDS; round++) {
        // Two of them go alone (two statements of a kind on their way at once), the others wait
        // and share the next: each round runs each batched form once, with 2 to 5 rows.
        const userIds = Array.from({ length: 4 + (round % 4) }, (_, i) => BigInt(round * 10 + i + 1));
        const ids = userIds.map((userId) => `p-${round}-${userId}`);
        const created = await Promise.all(
          userIds.map((userId, i) => {
            const process = {
              id: ids[i]!,
              userId,
              transactionType: 'TRANSFER' as const,
              transactionContext: context,
              authentications: ready,
              now,
              expiresAt,
            };
            // Both kinds of creation share one batched statement.
            return i % 2 === 0
              ? insertProcessForRecipient(db, process, policy, BigInt(USERS - i)).then((outcome) => outcome.created)
              : insertProcessIfAllowed(db, process, policy);
          }),
        );
        expect(created.map((p) => p?.id)).toEqual(ids);
        const completed = await Promise.all(
          userIds.map((userId, i) =>
            updateProcessStepsIfUnchanged(db, { id: ids[i]!, userId, expected: ready, next: done, status: 'DONE', now }),
          ),
        );
        expect(completed.map((p) => p?.status)).toEqual(ids.map(() => 'DONE'));
        const consumed = await Promise.all(
          userIds.map((userId, i) =>
            consumeDoneProcessReadingUser(db, {
              id: ids[i]!,
              userId,
              transactionType: 'TRANSFER',
              transactionContext: context,
              now,
              otherUserId: BigInt(USERS - i),
            }),
          ),
        );
        expect(consumed.map((c) => [c.consumed?.id, c.recipientStatus])).toEqual(ids.map((id) => [id, 'ACTIVATED']));
      }

      const { executed, plannedAfresh } = await planCacheReport(db, ROUNDS);
      const batched = executed.filter((statement) => statement.includes('unnest('));
      // The consumption before the steps: its statement updates the processes too.
      const kinds = statementKinds(batched, {
        creation: 'insert into "users"."processes"',
        consumption: 'set consumed_at',
        steps: 'update "users"."processes"',
      });
      expect(kinds.sort()).toEqual(['consumption', 'creation', 'steps']);
      expect(plannedAfresh).toEqual([]);
    } finally {
      await single.close();
    }
  }, 120_000);
});
