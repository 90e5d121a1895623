import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('CREATED', 'AGREED', 'ACTIVATED', 'BLOCKED', 'DEACTIVATED')`))
    .addColumn('idp_type', 'text', (c) => c.notNull())
    .addColumn('idp_name', 'text', (c) => c.notNull())
    .addColumn('user_name', 'text', (c) => c.notNull())
    .addColumn('phone_number', 'text', (c) => c.notNull())
    .addColumn('user_ci', 'text', (c) => c.notNull())
    .addColumn('user_token_hash', 'text', (c) => c.notNull().unique().check(sql`user_token_hash ~ '^[0-9a-f]{64}$'`))
    .addColumn('device_id', 'bigint')
    .addColumn('device_uuid', 'text', (c) => c.notNull())
    .addColumn('resident_id', 'text', (c) => c.check(sql`resident_id ~ '^[0-9]{6}-[0-9]{7}$'`))
    .addColumn('customer_id', 'text', (c) => c.unique().check(sql`customer_id ~ '^C[0-9]{12}$'`))
    .addColumn('kyc_status', 'text', (c) =>
      c.notNull().defaultTo('NONE').check(sql`kyc_status in ('NONE', 'REGISTERED', 'PROCESSING', 'ON_HOLD', 'REJECTED', 'VERIFIED')`),
    )
    .addColumn('reason', 'text')
    .addColumn('validated_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .execute();
  // At most one live user per identity: a registration in progress or a finished one. A
  // DEACTIVATED user does not hold the identity, so the person can register again.
  await db.schema
    .createIndex('users_live_ci_idx')
    .on('users')
    .column('user_ci')
    .unique()
    .where(sql.ref('status'), 'in', sql`('CREATED', 'AGREED', 'ACTIVATED', 'BLOCKED')`)
    .execute();
  await db.schema.createIndex('users_device_id_idx').on('users').column('device_id').execute();

  await db.schema
    .createTable('sessions')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('family_id', 'text', (c) => c.notNull())
    .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('device_id', 'bigint', (c) => c.notNull())
    .addColumn('session_token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('refresh_token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('session_expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('family_expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('rotated_at', 'timestamptz')
    .addColumn('revoked_at', 'timestamptz')
    .addColumn('revoke_reason', 'text')
    .execute();
  await db.schema.createIndex('sessions_family_idx').on('sessions').column('family_id').execute();
  await db.schema.createIndex('sessions_user_idx').on('sessions').columns(['user_id', 'device_id']).execute();

  await db.schema
    .createTable('authentication_policies')
    .addColumn('id', 'bigint', (c) => c.primaryKey().generatedAlwaysAsIdentity())
    .addColumn('transaction_type', 'text', (c) => c.notNull())
    .addColumn('priority', 'integer', (c) => c.notNull())
    .addColumn('condition', 'jsonb')
    .addColumn('authentications', 'jsonb', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('enabled', 'boolean', (c) => c.notNull().defaultTo(true))
    .addUniqueConstraint('authentication_policies_type_priority_key', ['transaction_type', 'priority'])
    .execute();

  await db.schema
    .createTable('processes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'bigint', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('transaction_type', 'text', (c) => c.notNull())
    .addColumn('transaction_context', 'text', (c) => c.notNull())
    .addColumn('policy_id', 'bigint', (c) => c.notNull().references('authentication_policies.id'))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('READY', 'IN_PROGRESS', 'DONE')`))
    .addColumn('authentications', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('completed_at', 'timestamptz')
    .addColumn('consumed_at', 'timestamptz')
    .addCheckConstraint('processes_consumed_when_done', sql`consumed_at is null or status = 'DONE'`)
    .execute();
  await db.schema.createIndex('processes_user_idx').on('processes').columns(['user_id', 'created_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('processes').execute();
  await db.schema.dropTable('authentication_policies').execute();
  await db.schema.dropTable('sessions').execute();
  await db.schema.dropTable('users').execute();
}
