import { describe, expect, it } from 'vitest';
import { createSandboxIdentityVerifier, SANDBOX_REJECTED_HINT } from './identity-verifier';

describe('sandbox identity verifier', () => {
  const verifier = createSandboxIdentityVerifier();
  const claim = { idpType: 'mobile', idpName: 'sandbox', name: 'Kim', phoneNumber: '010-2468-1357', verificationHint: '123456' };

  it('verifies a 6-digit hint and gives the same CI for the same person on any attempt', async () => {
    const first = await verifier.verify(claim);
    const again = await verifier.verify({ ...claim, phoneNumber: '01024681357', verificationHint: '654321' });
    expect(first.verified && again.verified && first.userCi === again.userCi).toBe(true);
    const other = await verifier.verify({ ...claim, name: 'Lee' });
    expect(other.verified && first.verified && other.userCi !== first.userCi).toBe(true);
  });

  it(`refuses ${SANDBOX_REJECTED_HINT}, malformed hints and missing names`, async () => {
    for (const c of [
      { ...claim, verificationHint: SANDBOX_REJECTED_HINT },
      { ...claim, verificationHint: '12345' },
      { ...claim, verificationHint: 'abcdef' },
      { ...claim, name: ' ' },
    ]) {
      expect((await verifier.verify(c)).verified).toBe(false);
    }
  });
});
