import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('terms')
    .addColumn('id', 'bigint', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('url', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('mandatory', 'boolean', (c) => c.notNull())
    .addColumn('active', 'boolean', (c) => c.notNull().defaultTo(true))
    .addColumn('sort_order', 'integer', (c) => c.notNull())
    .execute();
  await db
    .insertInto('terms')
    .values([
      {
        id: 1,
        name: '예금거래기본약관',
        url: 'https://kfrm.example/casa/terms/deposit-basic',
        description: '예금 거래에 공통으로 적용되는 기본 약관',
        mandatory: true,
        sort_order: 1,
      },
      {
        id: 2,
        name: '입출금이 자유로운 예금 약관',
        url: 'https://kfrm.example/casa/terms/demand-deposit',
        description: '입출금 통장 상품 약관',
        mandatory: true,
        sort_order: 2,
      },
      {
        id: 3,
        name: '개인(신용)정보 수집·이용 동의',
        url: 'https://kfrm.example/casa/terms/privacy',
        description: '계좌 개설과 관리를 위한 개인(신용)정보 처리',
        mandatory: true,
        sort_order: 3,
      },
      {
        id: 4,
        name: '마케팅 정보 수신 동의',
        url: 'https://kfrm.example/casa/terms/marketing',
        description: '상품 소식과 혜택 안내 (선택)',
        mandatory: false,
        sort_order: 4,
      },
    ])
    .execute();

  await db.schema
    .createTable('term_agreements')
    .addColumn('user_id', 'text', (c) => c.notNull().check(sql`user_id ~ '^[0-9]{1,20}$'`))
    .addColumn('term_id', 'bigint', (c) => c.notNull().references('terms.id'))
    .addColumn('agreed', 'boolean', (c) => c.notNull())
    .addColumn('answered_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('term_agreements_pkey', ['user_id', 'term_id'])
    .execute();

  await db.schema
    .createTable('openings')
    .addColumn('user_id', 'text', (c) => c.primaryKey().check(sql`user_id ~ '^[0-9]{1,20}$'`))
    .addColumn('state', 'text', (c) => c.notNull().check(sql`state in ('PENDING', 'OPENED')`))
    .addColumn('idempotency_key', 'text', (c) => c.notNull().unique())
    .addColumn('password_hash', 'text', (c) => c.notNull().check(sql`password_hash like '$argon2id$%'`))
    .addColumn('account_number', 'text', (c) => c.unique())
    .addColumn('limit_per_transaction_krw', 'bigint', (c) => c.notNull().check(sql`limit_per_transaction_krw >= 0`))
    .addColumn('limit_per_day_krw', 'bigint', (c) => c.notNull().check(sql`limit_per_day_krw >= 0`))
    .addColumn('claim_token', 'text')
    .addColumn('claimed_until', 'timestamptz')
    .addColumn('outcome_unknown_at', 'timestamptz')
    .addColumn('started_at', 'timestamptz', (c) => c.notNull())
    .addColumn('opened_at', 'timestamptz')
    // OPENED means the ledger account is known; an opened row is never claimed again.
    .addCheckConstraint('openings_opened_complete', sql`(state = 'OPENED') = (account_number is not null and opened_at is not null)`)
    .addCheckConstraint('openings_opened_unclaimed', sql`state = 'PENDING' or (claim_token is null and claimed_until is null)`)
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('openings').execute();
  await db.schema.dropTable('term_agreements').execute();
  await db.schema.dropTable('terms').execute();
}
