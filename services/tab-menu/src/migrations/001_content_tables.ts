import { sql, type Kysely } from 'kysely';

// Frozen in time: migrations use Kysely<any> and never import application types.
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('benefit_items')
    .addColumn('id', 'bigint', (c) => c.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('icon', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('app_scheme', 'text', (c) => c.notNull())
    .addColumn('visible', 'boolean', (c) => c.notNull().defaultTo(true))
    .execute();

  await db.schema
    .createTable('product_collections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('visible', 'boolean', (c) => c.notNull().defaultTo(true))
    .execute();
  await db.schema
    .createTable('product_items')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('collection_id', 'text', (c) => c.notNull().references('product_collections.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('icon_url', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('tag', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('description', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('additional_info1', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('additional_info2', 'text', (c) => c.notNull().defaultTo(''))
    .addColumn('app_scheme', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('product_items_collection_idx').on('product_items').columns(['collection_id', 'position']).execute();

  await db.schema
    .createTable('all_menu_collections')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .execute();
  await db.schema
    .createTable('all_menu_items')
    .addColumn('id', 'bigint', (c) => c.generatedAlwaysAsIdentity().primaryKey())
    .addColumn('collection_id', 'text', (c) => c.notNull().references('all_menu_collections.id').onDelete('cascade'))
    .addColumn('position', 'integer', (c) => c.notNull())
    .addColumn('icon', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('app_scheme', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('all_menu_items_collection_idx').on('all_menu_items').columns(['collection_id', 'position']).execute();
  await sql`comment on table benefit_items is 'Benefit tab (TabMenuService.ListBenefitItems), shown by position'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['all_menu_items', 'all_menu_collections', 'product_items', 'product_collections', 'benefit_items']) {
    await db.schema.dropTable(table).execute();
  }
}
