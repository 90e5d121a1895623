import type { Kysely } from 'kysely';

// The launch content of the three tabs. Later edits are new migrations or operator SQL; this
// one stays as it was shipped.
export async function up(db: Kysely<any>): Promise<void> {
  await db
    .insertInto('benefit_items')
    .values([
      {
        position: 1,
        icon: 'https://static.kfrm.example/icons/benefit-cashback.png',
        title: '첫 이체 캐시백',
        description: '첫 이체 시 1,000원 캐시백',
        app_scheme: 'kfrm://benefits/first-transfer',
      },
      {
        position: 2,
        icon: 'https://static.kfrm.example/icons/benefit-fee.png',
        title: '수수료 면제',
        description: '타행 이체 수수료 월 30회 면제',
        app_scheme: 'kfrm://benefits/fee-free',
      },
      {
        position: 3,
        icon: 'https://static.kfrm.example/icons/benefit-friend.png',
        title: '친구 초대',
        description: '친구 초대하고 함께 5,000원 받기',
        app_scheme: 'kfrm://benefits/invite',
      },
    ])
    .execute();

  await db
    .insertInto('product_collections')
    .values([
      { id: 'deposits', position: 1, title: '입출금' },
      { id: 'savings', position: 2, title: '예금·적금' },
    ])
    .execute();
  await db
    .insertInto('product_items')
    .values([
      {
        id: 'casa-basic',
        collection_id: 'deposits',
        position: 1,
        icon_url: 'https://static.kfrm.example/icons/casa.png',
        title: 'KFRM 입출금통장',
        tag: '대표',
        description: '조건 없이 수수료 면제',
        additional_info1: '연 0.1%',
        additional_info2: '',
        app_scheme: 'kfrm://casa/open',
      },
      {
        id: 'term-deposit-12m',
        collection_id: 'savings',
        position: 1,
        icon_url: 'https://static.kfrm.example/icons/deposit.png',
        title: '12개월 정기예금',
        tag: '추천',
        description: '목돈을 안전하게',
        additional_info1: '연 3.2%',
        additional_info2: '12개월',
        app_scheme: 'kfrm://products/term-deposit-12m',
      },
      {
        id: 'savings-26w',
        collection_id: 'savings',
        position: 2,
        icon_url: 'https://static.kfrm.example/icons/savings.png',
        title: '26주 적금',
        tag: '',
        description: '매주 조금씩 모으기',
        additional_info1: '최고 연 4.0%',
        additional_info2: '26주',
        app_scheme: 'kfrm://products/savings-26w',
      },
    ])
    .execute();

  await db
    .insertInto('all_menu_collections')
    .values([
      { id: 'banking', position: 1, title: '뱅킹' },
      { id: 'settings', position: 2, title: '설정' },
    ])
    .execute();
  await db
    .insertInto('all_menu_items')
    .values([
      { collection_id: 'banking', position: 1, icon: 'accounts', title: '내 계좌', app_scheme: 'kfrm://accounts' },
      { collection_id: 'banking', position: 2, icon: 'transfer', title: '이체', app_scheme: 'kfrm://transfer' },
      { collection_id: 'banking', position: 3, icon: 'history', title: '거래내역', app_scheme: 'kfrm://transactions' },
      { collection_id: 'settings', position: 1, icon: 'security', title: '보안 설정', app_scheme: 'kfrm://settings/security' },
      { collection_id: 'settings', position: 2, icon: 'device', title: '기기 관리', app_scheme: 'kfrm://settings/device' },
    ])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.deleteFrom('all_menu_items').execute();
  await db.deleteFrom('all_menu_collections').execute();
  await db.deleteFrom('product_items').execute();
  await db.deleteFrom('product_collections').execute();
  await db.deleteFrom('benefit_items').execute();
}
