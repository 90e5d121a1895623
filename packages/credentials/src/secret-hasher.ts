/**
 * Slow, salted, peppered hashing for PINs and patterns.
 *
 * What is stored: argon2id( hex(HMAC-SHA256(pepper, secret)) ) as a PHC string
 * (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`), with a fresh random 16-byte salt per hash.
 * The HMAC goes in as 64 lowercase hex characters rather than 32 raw bytes because
 * @node-rs/argon2 2.x `verify` decodes a byte password as UTF-8 and rejects most HMAC outputs
 * ("invalid utf-8 sequence"); hex keeps all 256 bits.
 *
 * Why the pepper: a 6-digit PIN has a million values, so with the database alone an attacker
 * would test all of them against one hash in hours even at these parameters. The pepper is a
 * 32-byte server key held outside the database (a file or secret manager, passed in by the
 * caller); without it a stolen hash cannot be searched at all. It is applied as an HMAC before
 * argon2 so it never appears in the stored string, and the argon2 input has a fixed length.
 *
 * Why these parameters: OWASP's Password Storage Cheat Sheet recommends argon2id with at least
 * m = 19 MiB (19456 KiB), t = 2, p = 1. Callers may choose stronger ones (more memory, more
 * passes), never weaker: {@link createSecretHasher} refuses anything below that floor. A hash
 * made with other parameters still verifies (the PHC string carries its own parameters), and
 * {@link SecretHasher.needsRehash} tells the caller to re-hash after the next successful check.
 *
 * Event loop: @node-rs/argon2's async functions run on libuv's thread pool, so hashing never
 * blocks the event loop (a test checks that timers keep firing while 8 verifies and 8 hashes
 * run). That pool has UV_THREADPOOL_SIZE threads (default 4), shared with fs, dns.lookup, zlib
 * and WebCrypto (the PKCS#7 signature checks). So hashes do not take it all, at most one per
 * core runs at once, process-wide (every hasher shares the limit); the others wait in order.
 * More at once buys nothing: on 2 cores, 16 verifies in flight on 4 threads gave 174–190
 * verifies/s at 10.4–11.3 ms of CPU each, on 2 places 180–199/s at 9.2–9.7 ms (four memory-hard
 * passes over 19 MiB each take turns on two cores and evict each other from the caches), and
 * file, DNS and signature work no longer queues behind a burst of logins. The cores are those
 * the process may use, a container's CPU quota included (`availableCores`: our Kubernetes pods
 * have one CPU, on nodes with many). `maxConcurrentHashes` gives one hasher a limit of its own
 * (tests).
 *
 * Timing: verification compares in constant time inside argon2, and {@link SecretHasher.dummyVerify}
 * costs one verify at the current parameters, so "unknown user" can be made to take as long as
 * "wrong PIN" (no enumeration by timing).
 */
import { createHmac, randomBytes } from 'node:crypto';
import { hash, parseOptions, verify, type Algorithm, type Options, type Version } from '@node-rs/argon2';
import { availableCores } from './available-cores';
import { createConcurrencyLimit, type ConcurrencyLimit } from './concurrency-limit';

export interface Argon2Parameters {
  /** Memory per hash in KiB (the `m=` of the PHC string). */
  memoryCostKiB: number;
  /** Passes over memory (`t=`). */
  timeCost: number;
  /** Lanes (`p=`). */
  parallelism: number;
  /** Length of the raw hash in bytes. */
  outputLengthBytes: number;
}

/** OWASP's recommended minimum for argon2id; also the floor this module accepts. */
export const OWASP_ARGON2ID_PARAMETERS: Readonly<Argon2Parameters> = Object.freeze({
  memoryCostKiB: 19456,
  timeCost: 2,
  parallelism: 1,
  outputLengthBytes: 32,
});

export const PEPPER_MIN_BYTES = 32;

// @node-rs/argon2 declares these as `const enum`s, which isolated modules cannot read; the
// values are fixed by the library (Algorithm.Argon2id = 2, Version.V0x13 = 1).
const ARGON2ID = 2 as Algorithm;
const VERSION_0x13 = 1 as Version;

export interface SecretHasherOptions {
  /** The server key (at least 32 bytes), loaded from outside the database. Copied on creation. */
  pepper: Uint8Array;
  /** Defaults to {@link OWASP_ARGON2ID_PARAMETERS}; each value may only be higher. */
  parameters?: Partial<Argon2Parameters>;
  /** Hashes and verifies of this hasher at once; default one per core, shared with every hasher of the process. */
  maxConcurrentHashes?: number;
}

export interface SecretHasher {
  readonly parameters: Readonly<Argon2Parameters>;
  /** A PHC string to store. Contains neither the secret nor the pepper. */
  hashSecret(secret: string): Promise<string>;
  /**
   * True when `secret` matches `hash` under this hasher's pepper. Throws (a bug or corrupted
   * row, not a wrong PIN) when `hash` is not an argon2id PHC string.
   */
  verifySecret(hash: string, secret: string): Promise<boolean>;
  /** True when `hash` was made with other parameters (or another algorithm) than the current ones. */
  needsRehash(hash: string): boolean;
  /** Costs one verify at the current parameters and resolves false. Use when there is no hash to check. */
  dummyVerify(): Promise<false>;
  /** The hash {@link dummyVerify} checks against (random, never a user's); exposed so tests can see its parameters. */
  dummyHash(): Promise<string>;
  /** The limit its hashes and verifies run under: the process's, unless `maxConcurrentHashes` gave it its own. */
  readonly hashing: ConcurrencyLimit;
}

/** The process's limit, made when the first hasher without its own is. */
let processHashing: ConcurrencyLimit | undefined;

function processHashingLimit(): ConcurrencyLimit {
  if (!processHashing) processHashing = createConcurrencyLimit(availableCores());
  return processHashing;
}

export function createSecretHasher(options: SecretHasherOptions): SecretHasher {
  if (!(options.pepper instanceof Uint8Array) || options.pepper.byteLength < PEPPER_MIN_BYTES) {
    throw new RangeError(`pepper must be at least ${PEPPER_MIN_BYTES} bytes`);
  }
  const pepper = Buffer.from(options.pepper);
  const parameters = Object.freeze(resolveParameters(options.parameters));
  const argon2Options: Options = {
    algorithm: ARGON2ID,
    version: VERSION_0x13,
    memoryCost: parameters.memoryCostKiB,
    timeCost: parameters.timeCost,
    parallelism: parameters.parallelism,
    outputLen: parameters.outputLengthBytes,
  };

  const pepperInput = (secret: string): string => {
    if (typeof secret !== 'string') throw new TypeError('secret must be a string');
    return createHmac('sha256', pepper).update(secret, 'utf8').digest('hex');
  };

  const hashing = options.maxConcurrentHashes === undefined ? processHashingLimit() : createConcurrencyLimit(options.maxConcurrentHashes);

  // @node-rs/argon2 draws a fresh random salt for every hash() call.
  const hashSecret = (secret: string): Promise<string> => {
    const input = pepperInput(secret);
    return hashing.run(() => hash(input, argon2Options));
  };

  const verifySecret = async (stored: string, secret: string): Promise<boolean> => {
    assertArgon2id(stored);
    const input = pepperInput(secret);
    return hashing.run(() => verify(stored, input));
  };

  // Made once, lazily, from random bytes nobody knows: verifying against it costs the same as a
  // real verify and can never succeed. Made by a caller that holds a place already.
  let dummy: Promise<string> | undefined;
  const dummyWithinPlace = (): Promise<string> => {
    dummy ??= hash(randomBytes(32).toString('hex'), argon2Options).catch((error: unknown) => {
      dummy = undefined;
      throw error;
    });
    return dummy;
  };

  return {
    parameters,
    hashSecret,
    verifySecret,
    needsRehash: (stored) => {
      let parsed: ReturnType<typeof parseOptions>;
      try {
        parsed = parseOptions(stored);
      } catch {
        return true;
      }
      return (
        parsed.algorithm !== ARGON2ID ||
        parsed.version !== VERSION_0x13 ||
        parsed.memoryCost !== parameters.memoryCostKiB ||
        parsed.timeCost !== parameters.timeCost ||
        parsed.parallelism !== parameters.parallelism ||
        parsed.outputLen !== parameters.outputLengthBytes
      );
    },
    // One place for the whole refusal, as a real verify takes one: the same wait, the same cost.
    dummyVerify: () =>
      hashing.run(async () => {
        await verify(await dummyWithinPlace(), randomBytes(32).toString('hex'));
        return false as const;
      }),
    dummyHash: () => dummy ?? hashing.run(dummyWithinPlace),
    hashing,
  };
}

function resolveParameters(overrides: Partial<Argon2Parameters> = {}): Argon2Parameters {
  const resolved = { ...OWASP_ARGON2ID_PARAMETERS, ...stripUndefined(overrides) };
  for (const key of Object.keys(OWASP_ARGON2ID_PARAMETERS) as (keyof Argon2Parameters)[]) {
    const value = resolved[key];
    if (!Number.isSafeInteger(value) || value < OWASP_ARGON2ID_PARAMETERS[key]) {
      throw new RangeError(`argon2 ${key} must be an integer >= ${OWASP_ARGON2ID_PARAMETERS[key]}, got ${String(value)}`);
    }
  }
  return resolved;
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function assertArgon2id(stored: string): void {
  if (typeof stored !== 'string' || !stored.startsWith('$argon2id$')) {
    throw new TypeError('stored hash is not an argon2id PHC string');
  }
}
