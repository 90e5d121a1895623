import type { ServiceModule } from '@kfrm/runtime';
import { migrations } from './migrations';
import { tabMenuHandlers } from './tab-menu.handlers';
import type { ContentDatabase } from './tab-menu.table';

export const CONTENT_SCHEMA = 'content';

export const tabMenuModule: ServiceModule = {
  name: 'tab-menu',
  mobilePackages: ['kfrm.api.tabmenu'],
  schema: CONTENT_SCHEMA,
  migrations,
  create({ db }) {
    return { mobile: [tabMenuHandlers(db.kysely<ContentDatabase>(CONTENT_SCHEMA))] };
  },
};
