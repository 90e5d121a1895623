import { createHmac } from 'node:crypto';

export interface IdentityClaim {
  idpType: string;
  idpName: string;
  name: string;
  phoneNumber: string;
  /** What the IdP gave the app to prove the check (e.g. a one-time code or transaction id). */
  verificationHint: string;
}

export type IdentityVerification =
  /** userCi: the IdP's connecting information, stable per person across devices and sign-ups. */
  { verified: true; userCi: string } | { verified: false; reason: string };

/** Asks the identity provider whether the person is who the claim says. */
export interface IdentityVerifier {
  verify(claim: IdentityClaim): Promise<IdentityVerification>;
}

export const SANDBOX_REJECTED_HINT = '000000';

/**
 * The default verifier until a real IdP is wired in (there is no network in this project). Rules:
 * the hint must be 6 ASCII digits and not `000000` (which the sandbox always rejects), and name
 * and phone number must be non-empty. The CI is an HMAC of idp type, name and phone number under
 * a fixed sandbox key, so the same person gets the same CI on every device, like a real IdP.
 */
export function createSandboxIdentityVerifier(): IdentityVerifier {
  return {
    async verify(claim) {
      if (!/^[0-9]{6}$/.test(claim.verificationHint)) return { verified: false, reason: 'hint is not a 6-digit sandbox code' };
      if (claim.verificationHint === SANDBOX_REJECTED_HINT) return { verified: false, reason: 'sandbox rejects 000000' };
      if (!claim.name.trim() || !claim.phoneNumber.trim()) return { verified: false, reason: 'name or phone number missing' };
      const digits = claim.phoneNumber.replace(/[^0-9]/g, '');
      const userCi = createHmac('sha256', 'kfrm-sandbox-idp').update(`${claim.idpType}|${claim.name.trim()}|${digits}`).digest('base64');
      return { verified: true, userCi };
    },
  };
}
