/** What the tab menu shows; plain data, independent of protobuf and SQL. */
export interface BenefitItem {
  icon: string;
  title: string;
  description: string;
  appScheme: string;
}

export interface ProductItem {
  id: string;
  iconUrl: string;
  title: string;
  tag: string;
  description: string;
  additionalInfo1: string;
  additionalInfo2: string;
  appScheme: string;
}

export interface ProductCollection {
  id: string;
  title: string;
  items: ProductItem[];
}

export interface AllMenuItem {
  icon: string;
  title: string;
  appScheme: string;
}

export interface AllMenuCollection {
  id: string;
  title: string;
  items: AllMenuItem[];
}
