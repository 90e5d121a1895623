import type { Kysely } from 'kysely';
import type { AllMenuCollection, BenefitItem, ProductCollection } from './tab-menu.model';
import type { ContentDatabase } from './tab-menu.table';

// Bounds on what one answer can carry: content is curated, but a bad import must not make a
// response exceed the message size limit.
const MAX_ITEMS = 200;

export async function listBenefitItems(db: Kysely<ContentDatabase>): Promise<BenefitItem[]> {
  const rows = await db
    .selectFrom('benefit_items')
    .select(['icon', 'title', 'description', 'app_scheme'])
    .where('visible', '=', true)
    .orderBy('position')
    .orderBy('id')
    .limit(MAX_ITEMS)
    .execute();
  return rows.map((r) => ({ icon: r.icon, title: r.title, description: r.description, appScheme: r.app_scheme }));
}

export async function listProductCollections(db: Kysely<ContentDatabase>): Promise<ProductCollection[]> {
  const collections = await db
    .selectFrom('product_collections')
    .select(['id', 'title'])
    .where('visible', '=', true)
    .orderBy('position')
    .orderBy('id')
    .limit(MAX_ITEMS)
    .execute();
  if (collections.length === 0) return [];
  const items = await db
    .selectFrom('product_items')
    .selectAll()
    .where(
      'collection_id',
      'in',
      collections.map((c) => c.id),
    )
    .orderBy('collection_id')
    .orderBy('position')
    .orderBy('id')
    .limit(MAX_ITEMS)
    .execute();
  return collections.map((c) => ({
    id: c.id,
    title: c.title,
    items: items
      .filter((i) => i.collection_id === c.id)
      .map((i) => ({
        id: i.id,
        iconUrl: i.icon_url,
        title: i.title,
        tag: i.tag,
        description: i.description,
        additionalInfo1: i.additional_info1,
        additionalInfo2: i.additional_info2,
        appScheme: i.app_scheme,
      })),
  }));
}

export async function listAllMenuCollections(db: Kysely<ContentDatabase>): Promise<AllMenuCollection[]> {
  const collections = await db
    .selectFrom('all_menu_collections')
    .select(['id', 'title'])
    .orderBy('position')
    .orderBy('id')
    .limit(MAX_ITEMS)
    .execute();
  if (collections.length === 0) return [];
  const items = await db
    .selectFrom('all_menu_items')
    .select(['collection_id', 'icon', 'title', 'app_scheme'])
    .where(
      'collection_id',
      'in',
      collections.map((c) => c.id),
    )
    .orderBy('collection_id')
    .orderBy('position')
    .orderBy('id')
    .limit(MAX_ITEMS)
    .execute();
  return collections.map((c) => ({
    id: c.id,
    title: c.title,
    items: items.filter((i) => i.collection_id === c.id).map((i) => ({ icon: i.icon, title: i.title, appScheme: i.app_scheme })),
  }));
}
