/**
 * What the user signs for an auto-debit (CMS) consent: the bytes the signedData's signature must
 * cover. Fixed from the RequestCMS that was sent, so the evidence is checked against what we
 * asked for, not against whatever came back.
 *
 * ASSUMED: seed 003 says signedData is a CMS signature for KFTC but not what its content is. We
 * take the consent's terms as UTF-8 JSON with a fixed key order: the client code, the payer id
 * (ClientUserID), the account (BankCode, BankAccountNum, BankAccountName), the signer
 * (ReceiverName, ReceiverBirthDay, ReceiverHP), the title and our PayLoad (the consent id, so a
 * signature for one consent never verifies for another). The sandbox signs exactly this; when
 * kakaoCert's real content format is known, this one function changes (docs/external-apis.md).
 */
export interface ConsentTerms {
  BankCode: string;
  BankAccountNum: string;
  BankAccountName?: string | null;
  ClientUserID: string;
  ReceiverName: string;
  ReceiverBirthDay: string;
  ReceiverHP: string;
  TMSTitle: string;
  PayLoad?: string | null;
}

export function consentSignedContent(clientCode: string, terms: ConsentTerms): Uint8Array {
  const ordered = {
    clientCode,
    clientUserID: terms.ClientUserID,
    bankCode: terms.BankCode,
    bankAccountNum: terms.BankAccountNum,
    bankAccountName: terms.BankAccountName ?? null,
    receiverName: terms.ReceiverName,
    receiverBirthDay: terms.ReceiverBirthDay,
    receiverHP: terms.ReceiverHP,
    title: terms.TMSTitle,
    payload: terms.PayLoad ?? null,
  };
  return new Uint8Array(Buffer.from(JSON.stringify(ordered), 'utf8'));
}
