import { createHmac, randomBytes } from 'node:crypto';
import { parseOptions, verify as rawVerify, verifySync as rawVerifySync } from '@node-rs/argon2';
import { beforeAll, describe, expect, it } from 'vitest';
import { availableCores } from './available-cores';
import { createSecretHasher, OWASP_ARGON2ID_PARAMETERS, type SecretHasher } from './secret-hasher';

const pepper = randomBytes(32);
const hasher = createSecretHasher({ pepper });
const pin = '385170';
let stored: string;

beforeAll(async () => {
  stored = await hasher.hashSecret(pin);
});

/**
 * Counts timer ticks that fire while `work` is still pending. A tick can only run when the
 * event loop is free, so work done on the loop itself allows none, and work done on another
 * thread allows as many as fit in its duration. No bound on time is asserted.
 */
async function ticksWhilePending(work: () => Promise<unknown>): Promise<number> {
  let pending = true;
  let ticks = 0;
  const timer = setInterval(() => {
    if (pending) ticks++;
  }, 1);
  try {
    await work();
  } finally {
    pending = false;
    clearInterval(timer);
  }
  return ticks;
}

describe('hashSecret', () => {
  it('produces argon2id v19 at the OWASP parameters: m=19456 KiB, t=2, p=1, 32-byte hash, 16-byte salt', () => {
    expect(stored.startsWith('$argon2id$v=19$m=19456,t=2,p=1$')).toBe(true);
    expect(parseOptions(stored)).toEqual({
      algorithm: 2,
      version: 1,
      memoryCost: 19456,
      timeCost: 2,
      parallelism: 1,
      outputLen: 32,
      saltLen: 16,
    });
    expect(hasher.parameters).toEqual(OWASP_ARGON2ID_PARAMETERS);
  });

  it('contains neither the secret nor the pepper in any common encoding', () => {
    for (const encoded of [
      pin,
      pepper.toString('hex'),
      pepper.toString('base64'),
      pepper.toString('base64').replace(/=+$/, ''),
      pepper.toString('base64url'),
    ]) {
      expect(stored).not.toContain(encoded);
    }
  });

  it('hashes hex(HMAC-SHA256(pepper, secret)), not the secret itself', async () => {
    expect(await rawVerify(stored, pin)).toBe(false);
    expect(await rawVerify(stored, createHmac('sha256', pepper).update(pin).digest('hex'))).toBe(true);
  });

  it('salts each hash: the same secret hashes differently every time', async () => {
    const again = await hasher.hashSecret(pin);
    expect(again).not.toBe(stored);
    expect(again.split('$')[4]).not.toBe(stored.split('$')[4]);
  });
});

describe('verifySecret', () => {
  it('accepts the right secret and refuses a wrong one', async () => {
    expect(await hasher.verifySecret(stored, pin)).toBe(true);
    expect(await hasher.verifySecret(stored, '385171')).toBe(false);
    expect(await hasher.verifySecret(stored, '')).toBe(false);
  });

  it('refuses the right secret under a different pepper', async () => {
    const other = createSecretHasher({ pepper: randomBytes(32) });
    expect(await other.verifySecret(stored, pin)).toBe(false);
  });

  it('throws on something that is not an argon2id hash (a corrupted row is not a wrong PIN)', async () => {
    await expect(hasher.verifySecret('', pin)).rejects.toThrow();
    await expect(hasher.verifySecret('$argon2id$garbage', pin)).rejects.toThrow();
    const argon2i = stored.replace('$argon2id$', '$argon2i$');
    await expect(hasher.verifySecret(argon2i, pin)).rejects.toThrow(TypeError);
  });

  it('runs off the event loop: timers keep firing while 8 verifies and 8 hashes are in flight', async () => {
    const ticks = await ticksWhilePending(() =>
      Promise.all([
        ...Array.from({ length: 8 }, () => hasher.verifySecret(stored, '000001')),
        ...Array.from({ length: 8 }, () => hasher.hashSecret(pin)),
      ]),
    );
    expect(ticks).toBeGreaterThanOrEqual(3);
  });

  it('control for the test above: argon2 run on the event loop lets no tick through', async () => {
    const hmac = createHmac('sha256', pepper).update('000001').digest('hex');
    const ticks = await ticksWhilePending(async () => {
      for (let i = 0; i < 8; i++) rawVerifySync(stored, hmac);
    });
    expect(ticks).toBe(0);
  });
});

describe('how many hashes run at once', () => {
  it('never more than maxConcurrentHashes: the others wait their turn, and all complete', async () => {
    const one = createSecretHasher({ pepper, maxConcurrentHashes: 1 });
    const all = Promise.all([one.verifySecret(stored, pin), one.verifySecret(stored, '000001'), one.hashSecret(pin), one.dummyVerify()]);
    expect(one.hashing.load()).toEqual({ running: 1, waiting: 3 });
    const [right, wrong, rehashed, dummy] = await all;
    expect([right, wrong, dummy]).toEqual([true, false, false]);
    expect(await one.verifySecret(rehashed, pin)).toBe(true);
    expect(one.hashing.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('by default one per core the process may use, shared by every hasher of the process (auth and casa run in one backend)', async () => {
    const [a, b] = [createSecretHasher({ pepper }), createSecretHasher({ pepper: randomBytes(32) })];
    const cores = availableCores();
    await a.dummyHash();
    await b.dummyHash();
    const all = Promise.all([...Array.from({ length: cores + 1 }, () => a.verifySecret(stored, pin)), b.dummyVerify()]);
    expect(b.hashing.load()).toEqual({ running: cores, waiting: 2 });
    expect(a.hashing).toBe(b.hashing);
    await all;
    expect(a.hashing.load()).toEqual({ running: 0, waiting: 0 });
  });

  it('refuses a maxConcurrentHashes that is not a positive integer', () => {
    for (const max of [0, -1, 2.5]) expect(() => createSecretHasher({ pepper, maxConcurrentHashes: max })).toThrow(RangeError);
  });
});

describe('needsRehash', () => {
  it('is false for a hash made with the current parameters', () => {
    expect(hasher.needsRehash(stored)).toBe(false);
  });

  it('is true once the parameters are raised, and the old hash still verifies meanwhile', async () => {
    const stronger: SecretHasher = createSecretHasher({ pepper, parameters: { timeCost: 3 } });
    expect(stronger.needsRehash(stored)).toBe(true);
    expect(await stronger.verifySecret(stored, pin)).toBe(true);
    const rehashed = await stronger.hashSecret(pin);
    expect(rehashed.startsWith('$argon2id$v=19$m=19456,t=3,p=1$')).toBe(true);
    expect(stronger.needsRehash(rehashed)).toBe(false);
    expect(hasher.needsRehash(rehashed)).toBe(true);
  });

  it('is true for anything that is not a current argon2id hash', () => {
    expect(hasher.needsRehash('')).toBe(true);
    expect(hasher.needsRehash('$2b$12$abcdefghijklmnopqrstuv')).toBe(true);
    expect(hasher.needsRehash(stored.replace('$argon2id$', '$argon2i$'))).toBe(true);
  });
});

describe('dummyVerify', () => {
  it('resolves false, against a random hash at the current parameters (so it costs one real verify)', async () => {
    expect(await hasher.dummyVerify()).toBe(false);
    const dummy = await hasher.dummyHash();
    expect(hasher.needsRehash(dummy)).toBe(false);
    expect(dummy).not.toBe(stored);
    // The dummy hash never matches a user's secret.
    expect(await hasher.verifySecret(dummy, pin)).toBe(false);
  });
});

describe('configuration', () => {
  it('refuses a pepper shorter than 32 bytes', () => {
    expect(() => createSecretHasher({ pepper: randomBytes(31) })).toThrow(RangeError);
    expect(() => createSecretHasher({ pepper: 'secret' as unknown as Uint8Array })).toThrow(RangeError);
  });

  it('refuses parameters below the OWASP floor', () => {
    expect(() => createSecretHasher({ pepper, parameters: { memoryCostKiB: 19455 } })).toThrow(RangeError);
    expect(() => createSecretHasher({ pepper, parameters: { timeCost: 1 } })).toThrow(RangeError);
    expect(() => createSecretHasher({ pepper, parameters: { parallelism: 0 } })).toThrow(RangeError);
    expect(() => createSecretHasher({ pepper, parameters: { outputLengthBytes: 16 } })).toThrow(RangeError);
    expect(() => createSecretHasher({ pepper, parameters: { timeCost: 2.5 } })).toThrow(RangeError);
  });

  it('copies the pepper, so a caller zeroing its buffer does not change the hasher', async () => {
    const mine = Buffer.from(pepper);
    const own = createSecretHasher({ pepper: mine });
    mine.fill(0);
    expect(await own.verifySecret(stored, pin)).toBe(true);
  });
});
