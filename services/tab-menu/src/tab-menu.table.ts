import type { Generated } from 'kysely';

/** The `content` schema as the repository sees it. */
export interface ContentDatabase {
  benefit_items: {
    id: Generated<string>;
    position: number;
    icon: string;
    title: string;
    description: string;
    app_scheme: string;
    visible: Generated<boolean>;
  };
  product_collections: { id: string; position: number; title: string; visible: Generated<boolean> };
  product_items: {
    id: string;
    collection_id: string;
    position: number;
    icon_url: string;
    title: string;
    tag: string;
    description: string;
    additional_info1: string;
    additional_info2: string;
    app_scheme: string;
  };
  all_menu_collections: { id: string; position: number; title: string };
  all_menu_items: { id: Generated<string>; collection_id: string; position: number; icon: string; title: string; app_scheme: string };
}
