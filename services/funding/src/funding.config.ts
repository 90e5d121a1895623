/**
 * The funding service's own configuration and the external adapters built from it.
 *
 * With KONAPLATE_URL / KAKAOCERT_URL set, the real clients talk to them and their credentials
 * are required. Unset in the embedded default (no DATABASE_URL), the module starts the local
 * sandboxes on 127.0.0.1 so a new user can try the whole flow; unset in real mode is a start-up
 * error naming the variable.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, bool, int, oneOf, readConfig, str, url, type Env } from '@kfrm/config';
import { createKakaocertClient, createKakaocertConsentProvider, type CmsConsentProvider } from '@kfrm/kakaocert';
import { startKakaocertSandbox, type KakaocertSandbox } from '@kfrm/kakaocert/sandbox';
import { createJweFieldCipher, createKonaplateClient, type KonaplateClient } from '@kfrm/konaplate';
import { ensureSandboxKeyFiles, sandboxClientOptions, startKonaplateSandbox, type KonaplateSandbox } from '@kfrm/konaplate/sandbox/index';
import type { Logger } from '@kfrm/logging';

export function readFundingConfig(env: Env = process.env) {
  return readConfig(
    {
      konaplateUrl: url('KONAPLATE_URL', ['http', 'https'], { optional: true }),
      konaplateAspId: str('KONAPLATE_ASP_ID', { optional: true }),
      konaplateAccessKey: str('KONAPLATE_ACCESS_KEY', { optional: true }),
      konaplateSecretKey: str('KONAPLATE_SECRET_KEY', { optional: true }),
      // Message encryption: all three or none.
      konaplateCryptoKeyId: str('KONAPLATE_CRYPTO_KEY_ID', { optional: true }),
      konaplateServerPublicKeyFile: str('KONAPLATE_SERVER_PUBLIC_KEY_FILE', { optional: true }),
      konaplateClientPrivateKeyFile: str('KONAPLATE_CLIENT_PRIVATE_KEY_FILE', { optional: true }),
      konaplateTimeoutMs: int('KONAPLATE_TIMEOUT_MS', { default: 10_000, min: 100, max: 120_000 }),
      // Readings of where seeds 001/002 disagree (docs/external-apis.md, "Where the seeds disagree").
      konaplateTranTokenForm: oneOf('KONAPLATE_TRAN_TOKEN_FORM', ['padded', 'unpadded'], { default: 'padded' }),
      konaplateBirthDateForm: oneOf('KONAPLATE_BIRTH_DATE_FORM', ['yyyyMMdd', 'yyMMdd'], { default: 'yyyyMMdd' }),
      kakaocertUrl: url('KAKAOCERT_URL', ['http', 'https'], { optional: true }),
      kakaocertAuthUrl: url('KAKAOCERT_AUTH_URL', ['http', 'https'], { optional: true }),
      kakaocertLinkId: str('KAKAOCERT_LINK_ID', { optional: true }),
      kakaocertSecretKey: str('KAKAOCERT_SECRET_KEY', { optional: true }),
      kakaocertClientCode: str('KAKAOCERT_CLIENT_CODE', { optional: true }),
      kakaocertCallCenterNum: str('KAKAOCERT_CALL_CENTER_NUM', { default: '1600-0000' }),
      kakaocertSubClientId: str('KAKAOCERT_SUB_CLIENT_ID', { optional: true }),
      kakaocertVerifyTimeoutMs: int('KAKAOCERT_VERIFY_TIMEOUT_MS', { default: 10_000, min: 100, max: 120_000 }),
      // PEM of the CA certificate(s) issuing the signers' certificates: consent evidence must chain to one.
      kakaocertTrustAnchorFile: str('KAKAOCERT_TRUST_ANCHOR_FILE', { optional: true }),
      // Opt-in for dev stacks on PostgreSQL (docker-compose, a demo cluster): the in-process
      // sandboxes stand in for both providers although DATABASE_URL is set. Never in production.
      useSandboxes: bool('KFRM_FUNDING_SANDBOXES', { default: false }),
      // Top-ups per user and Asia/Seoul day, in won (0: no limit).
      topUpLimitPerDayKrw: int('KFRM_FUNDING_TOP_UP_LIMIT_PER_DAY_KRW', { default: 2_000_000, min: 0, max: Number.MAX_SAFE_INTEGER }),
      // How often pending top-ups and withdrawals are resolved, and how long one waits before it is.
      resolveIntervalMs: int('KFRM_FUNDING_RESOLVE_INTERVAL_MS', { default: 5_000, min: 100, max: 3_600_000 }),
      resolveAfterMs: int('KFRM_FUNDING_RESOLVE_AFTER_MS', { default: 10_000, min: 0, max: 3_600_000 }),
      // How often the job checks whether yesterday (Asia/Seoul) is reconciled yet; 0 turns it off.
      reconcileIntervalMs: int('KFRM_FUNDING_RECONCILE_INTERVAL_MS', { default: 600_000, min: 0, max: 86_400_000 }),
      // Embedded kakaoCert sandbox only: it signs each consent this long after the request, standing
      // in for the user in KakaoTalk (0: never; sign through POST /__sandbox/sign/{receiptId}).
      sandboxSignAfterMs: int('KFRM_FUNDING_SANDBOX_SIGN_AFTER_MS', { default: 1_500, min: 0, max: 3_600_000 }),
      // Embedded Konaplate sandbox only: its member answers each ARS call this long after it is
      // placed and keys in the right code (0: never; tests use the sandbox's answerArsCall).
      sandboxArsAnswerAfterMs: int('KFRM_FUNDING_SANDBOX_ARS_ANSWER_AFTER_MS', { default: 1_000, min: 0, max: 3_600_000 }),
    },
    env,
  );
}

export type FundingConfig = ReturnType<typeof readFundingConfig>;

export interface FundingAdapters {
  konaplate: KonaplateClient;
  consents: CmsConsentProvider;
  /** The embedded sandboxes, when they were started (their control API signs consents). */
  sandboxes: { konaplate?: KonaplateSandbox; kakaocert?: KakaocertSandbox };
  close(): Promise<void>;
}

function required(_config: FundingConfig, names: Record<string, string | undefined>, why: string): string[] {
  return Object.entries(names)
    .filter(([, value]) => value === undefined)
    .map(([name]) => `${name} is required ${why}`);
}

/** Checks that the real-mode variables are complete, listing every missing one at once. */
function checkConfig(config: FundingConfig, mode: 'embedded' | 'real'): void {
  const problems: string[] = [];
  if (config.konaplateUrl === undefined) {
    if (mode === 'real' && !config.useSandboxes)
      problems.push('KONAPLATE_URL is required when DATABASE_URL is set (or KFRM_FUNDING_SANDBOXES=true for a dev stack)');
  } else {
    problems.push(
      ...required(
        config,
        {
          KONAPLATE_ASP_ID: config.konaplateAspId,
          KONAPLATE_ACCESS_KEY: config.konaplateAccessKey,
          KONAPLATE_SECRET_KEY: config.konaplateSecretKey,
        },
        'with KONAPLATE_URL',
      ),
    );
    const crypto = {
      KONAPLATE_CRYPTO_KEY_ID: config.konaplateCryptoKeyId,
      KONAPLATE_SERVER_PUBLIC_KEY_FILE: config.konaplateServerPublicKeyFile,
      KONAPLATE_CLIENT_PRIVATE_KEY_FILE: config.konaplateClientPrivateKeyFile,
    };
    if (Object.values(crypto).some((v) => v !== undefined))
      problems.push(...required(config, crypto, 'with the other KONAPLATE encryption variables'));
  }
  if (config.kakaocertUrl === undefined) {
    if (mode === 'real' && !config.useSandboxes)
      problems.push('KAKAOCERT_URL is required when DATABASE_URL is set (or KFRM_FUNDING_SANDBOXES=true for a dev stack)');
  } else {
    problems.push(
      ...required(
        config,
        {
          KAKAOCERT_AUTH_URL: config.kakaocertAuthUrl,
          KAKAOCERT_LINK_ID: config.kakaocertLinkId,
          KAKAOCERT_SECRET_KEY: config.kakaocertSecretKey,
          KAKAOCERT_CLIENT_CODE: config.kakaocertClientCode,
          KAKAOCERT_TRUST_ANCHOR_FILE: config.kakaocertTrustAnchorFile,
        },
        'with KAKAOCERT_URL',
      ),
    );
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** Counts each provider call (metrics); optional so tests can build adapters without a registry. */
export interface ProviderCallObservers {
  konaplate?: (call: { operation: string; outcome: string; seconds: number }) => void;
  kakaocert?: (call: { operation: string; outcome: string; seconds: number }) => void;
}

/** The client of the real Konaplate (KONAPLATE_URL set); the reconcile command uses it alone. */
export async function realKonaplateClient(
  config: FundingConfig,
  logger: Logger,
  observer?: ProviderCallObservers['konaplate'],
): Promise<KonaplateClient> {
  checkConfig(config, 'embedded');
  if (config.konaplateUrl === undefined) throw new ConfigError(['KONAPLATE_URL is required']);
  const cipher = config.konaplateCryptoKeyId
    ? createJweFieldCipher({
        keyId: config.konaplateCryptoKeyId,
        encryptTo: await readFile(config.konaplateServerPublicKeyFile!, 'utf8'),
        decryptWith: await readFile(config.konaplateClientPrivateKeyFile!, 'utf8'),
      })
    : undefined;
  return createKonaplateClient({
    baseUrl: config.konaplateUrl,
    aspId: config.konaplateAspId!,
    accessKey: config.konaplateAccessKey!,
    secretKey: config.konaplateSecretKey!,
    ...(cipher ? { cipher } : {}),
    timeoutMs: config.konaplateTimeoutMs,
    tranTokenForm: config.konaplateTranTokenForm,
    birthDateForm: config.konaplateBirthDateForm,
    logger,
    observer,
  });
}

export interface FundingAdapterOptions {
  /**
   * Where the Konaplate sandbox keeps its two RSA key pairs (made on first start, reused after:
   * see ensureSandboxKeyFiles); without it they are generated at every start. The embedded
   * default passes a directory in its data directory.
   */
  sandboxKeyDir?: string;
}

/**
 * The sandbox keeps its members in memory, but the funding service's records of them outlive a
 * restart (the embedded default's data directory, or PostgreSQL with KFRM_FUNDING_SANDBOXES): a
 * sandbox counting from the same first id again issued ids already stored, and linking an account
 * after a restart answered INTERNAL (a duplicate member_id). Counting from the start time in
 * milliseconds stays above every earlier run's ids as long as a run issues fewer members than it
 * lasts milliseconds; 13–14 digits, within Konaplate's numeric user ids.
 */
function sandboxFirstMemberId(): bigint {
  return 2_000_000_001n + BigInt(Date.now());
}

export async function createFundingAdapters(
  config: FundingConfig,
  mode: 'embedded' | 'real',
  logger: Logger,
  observers: ProviderCallObservers = {},
  options: FundingAdapterOptions = {},
): Promise<FundingAdapters> {
  checkConfig(config, mode);
  const sandboxes: FundingAdapters['sandboxes'] = {};
  const closers: (() => Promise<void> | void)[] = [];
  const close = async () => {
    for (const closer of closers.reverse()) await closer();
  };
  try {
    let konaplate: KonaplateClient;
    if (config.konaplateUrl === undefined) {
      const keys = options.sandboxKeyDir === undefined ? undefined : await ensureSandboxKeyFiles(options.sandboxKeyDir);
      const sandbox = await startKonaplateSandbox({
        ...keys,
        port: 0,
        host: '127.0.0.1',
        logger: logger.child({ component: 'konaplate-sandbox' }),
        tranTokenForm: config.konaplateTranTokenForm,
        birthDateForm: config.konaplateBirthDateForm,
        arsAnswerAfterMs: config.sandboxArsAnswerAfterMs,
        firstIssuedMemberId: sandboxFirstMemberId(),
      });
      closers.push(() => sandbox.close());
      sandboxes.konaplate = sandbox;
      konaplate = createKonaplateClient(
        sandboxClientOptions(sandbox, {
          logger,
          timeoutMs: config.konaplateTimeoutMs,
          observer: observers.konaplate,
          tranTokenForm: config.konaplateTranTokenForm,
          birthDateForm: config.konaplateBirthDateForm,
        }),
      );
    } else {
      konaplate = await realKonaplateClient(config, logger, observers.konaplate);
    }

    let kakaocert;
    let clientCode: string;
    let trustAnchorsPem: string;
    let subClientId = config.kakaocertSubClientId;
    if (config.kakaocertUrl === undefined) {
      const sandbox = await startKakaocertSandbox({
        port: 0,
        authPort: 0,
        host: '127.0.0.1',
        signAfterMs: config.sandboxSignAfterMs,
        logger: logger.child({ component: 'kakaocert-sandbox' }),
      });
      closers.push(() => sandbox.close());
      sandboxes.kakaocert = sandbox;
      kakaocert = createKakaocertClient({
        linkId: sandbox.linkId,
        secretKey: sandbox.secretKey,
        serviceUrl: sandbox.url,
        authUrl: sandbox.authUrl,
        timeouts: { verifyMs: config.kakaocertVerifyTimeoutMs },
        logger,
        observer: observers.kakaocert,
      });
      clientCode = sandbox.clientCode;
      trustAnchorsPem = sandbox.caCertificatePem;
      subClientId = undefined;
    } else {
      kakaocert = createKakaocertClient({
        linkId: config.kakaocertLinkId!,
        secretKey: config.kakaocertSecretKey!,
        serviceUrl: config.kakaocertUrl,
        authUrl: config.kakaocertAuthUrl!,
        timeouts: { verifyMs: config.kakaocertVerifyTimeoutMs },
        logger,
        observer: observers.kakaocert,
      });
      clientCode = config.kakaocertClientCode!;
      trustAnchorsPem = await readFile(config.kakaocertTrustAnchorFile!, 'utf8');
    }
    const kakaocertClient = kakaocert;
    closers.push(() => kakaocertClient.close());
    const consents = createKakaocertConsentProvider(kakaocertClient, {
      clientCode,
      callCenterNum: config.kakaocertCallCenterNum,
      trustAnchorsPem,
      ...(subClientId ? { subClientId } : {}),
    });
    if (sandboxes.konaplate || sandboxes.kakaocert) {
      logger.info(
        {
          konaplate_sandbox: sandboxes.konaplate?.url,
          kakaocert_sandbox: sandboxes.kakaocert?.url,
          // Stands in for the user signing in KakaoTalk.
          sign_consent: sandboxes.kakaocert ? `POST ${sandboxes.kakaocert.url}/__sandbox/sign/{receiptId}` : undefined,
        },
        'funding: embedded sandboxes started (KONAPLATE_URL / KAKAOCERT_URL unset)',
      );
    }
    return { konaplate, consents, sandboxes, close };
  } catch (err) {
    await close().catch(() => undefined);
    throw err;
  }
}
