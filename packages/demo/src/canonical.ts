/** What the app signs for a transfer (docs/transfer-signing.md), built on the app's side. */
export interface SignedTransfer {
  processId: string;
  sourceAccountNumber: string;
  targetInstitutionCode: string;
  targetAccountNumber: string;
  /** KRW has no minor unit: the amount in won. */
  amountMinor: bigint;
}

/** The canonical bytes: UTF-8 JSON, no white space, keys in the documented order. */
export function canonicalTransferBytes(t: SignedTransfer): Uint8Array {
  const json = JSON.stringify({
    v: 1,
    process_id: t.processId,
    source_account_number: t.sourceAccountNumber,
    target_institution_code: t.targetInstitutionCode,
    target_account_number: t.targetAccountNumber,
    currency: 'KRW',
    amount_minor: t.amountMinor.toString(),
  });
  return new TextEncoder().encode(json);
}

/** The biometric challenge the app signs with its registered key (services/auth README). */
export const biometricChallenge = (processId: string): Uint8Array => new TextEncoder().encode(`kfrm-biometric-v1:${processId}`);
