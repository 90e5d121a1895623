/**
 * Korean financial institutions and their KFTC codes (3 digits), as seed 001 lists them for
 * Konaplate's bankCode. One table for every user of it: the Konaplate adapter validates bank
 * codes against it, the transfer service lists it as target institutions.
 */
export interface BankCodeEntry {
  code: string;
  name: string;
}

export const KOREAN_BANK_CODES: readonly BankCodeEntry[] = [
  { code: '088', name: '신한은행' },
  { code: '004', name: 'KB국민은행' },
  { code: '020', name: '우리은행' },
  { code: '081', name: '하나은행' },
  { code: '003', name: 'IBK기업은행' },
  { code: '002', name: '산업은행' },
  { code: '011', name: 'NH농협은행' },
  { code: '012', name: '지역농축협' },
  { code: '023', name: 'SC은행' },
  { code: '090', name: '카카오뱅크' },
  { code: '071', name: '우체국' },
  { code: '045', name: '새마을금고' },
  { code: '007', name: '수협은행' },
  { code: '048', name: '신협' },
  { code: '032', name: '부산은행' },
  { code: '039', name: '경남은행' },
  { code: '034', name: '광주은행' },
  { code: '037', name: '전북은행' },
  { code: '035', name: '제주은행' },
  { code: '031', name: '대구은행' },
  { code: '064', name: '산림조합' },
  { code: '089', name: '케이뱅크' },
  { code: '050', name: '저축은행' },
  { code: '092', name: '토스뱅크' },
  { code: '027', name: '씨티은행' },
  { code: '240', name: '삼성증권' },
  { code: '269', name: '한화투자' },
  { code: '278', name: '신한투자' },
  { code: '261', name: '교보증권' },
];
