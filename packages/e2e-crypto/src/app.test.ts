import { describe, expect, it } from 'vitest';
import { encryptForSession } from './app';
import { decryptCompact } from './jwe';
import { exportSpkiBase64, generateP256KeyPair } from './keys';

describe('encryptForSession', () => {
  it('encrypts to the key session it is given, each of many in turn (the server keys it keeps are not mixed up)', async () => {
    const sessions = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const pair = await generateP256KeyPair();
        return { pair, spki: await exportSpkiBase64(pair.publicKey) };
      }),
    );
    for (let round = 0; round < 3; round++) {
      for (const [i, { pair, spki }] of sessions.entries()) {
        const { encryptedMessage } = await encryptForSession(spki, `session-${i}`, 'AUTH', `pin-${round}-${i}`);
        const opened = await decryptCompact(encryptedMessage.message, pair.privateKey);
        expect(new TextDecoder().decode(opened)).toBe(`pin-${round}-${i}`);
        const other = sessions[(i + 1) % sessions.length]!.pair.privateKey;
        await expect(decryptCompact(encryptedMessage.message, other)).rejects.toThrow();
      }
    }
  });

  it('refuses a server key that is not a P-256 SPKI, every time', async () => {
    for (let i = 0; i < 2; i++) {
      await expect(encryptForSession('bm90IGEga2V5', 's', 'AUTH', '1')).rejects.toThrow(/P-256 SPKI/);
      await expect(encryptForSession('not base64!', 's', 'AUTH', '1')).rejects.toThrow(/not base64/);
    }
  });
});
