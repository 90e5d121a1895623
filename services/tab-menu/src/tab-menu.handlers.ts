import type { Kysely } from 'kysely';
import { TabMenuServiceService } from '@kfrm/proto/gen/kfrm/api/tabmenu/tab_menu';
import { defineService, raises } from '@kfrm/server-kit';
import { listAllMenuCollections, listBenefitItems, listProductCollections } from './tab-menu.repository';
import type { ContentDatabase } from './tab-menu.table';

/** TabMenuService: public content, mapped field by field from the model to the contract. */
export function tabMenuHandlers(db: Kysely<ContentDatabase>) {
  return defineService(
    TabMenuServiceService,
    {
      async listBenefitItems() {
        const items = await listBenefitItems(db);
        return { items: items.map((i) => ({ icon: i.icon, title: i.title, description: i.description, appScheme: i.appScheme })) };
      },
      async listProductCollections() {
        return { collections: await listProductCollections(db) };
      },
      async listAllMenuCollections() {
        return { collections: await listAllMenuCollections(db) };
      },
    },
    {
      // The tabs are shown before sign-in as well. Reads of public content: no seed code.
      listBenefitItems: { access: 'public', raises: raises() },
      listProductCollections: { access: 'public', raises: raises() },
      listAllMenuCollections: { access: 'public', raises: raises() },
    },
  );
}
