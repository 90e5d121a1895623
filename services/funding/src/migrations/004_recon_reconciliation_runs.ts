import type { Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  // One row per reconciled Asia/Seoul day (issue 15 item 5): the periodic job leases the day so
  // that one instance reconciles it once, and records when it finished and what it found.
  await db.schema
    .createTable('reconciliation_runs')
    .addColumn('seoul_day', 'text', (c) => c.primaryKey())
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('checked', 'int4')
    .addColumn('mismatches', 'int4')
    .addColumn('finished_at', 'timestamptz')
    .execute();
  // The reconciliation reads a day's movements in id order.
  await db.schema.createIndex('money_movements_seoul_day').on('money_movements').columns(['seoul_day', 'id']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('money_movements_seoul_day').execute();
  await db.schema.dropTable('reconciliation_runs').execute();
}
