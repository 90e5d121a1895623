import { join, resolve } from 'node:path';
import { ConfigError, int, listenAddress, oneOf, readConfig, str, url, type Env } from '@kfrm/config';

/**
 * Configuration every entry point reads once at start. Without DATABASE_URL the process runs
 * the embedded default (PGlite in the data directory, in-process store, dev certificates made
 * on first start); with it, real mode, where certificates must come from files.
 */
export function readRuntimeConfig(env: Env = process.env) {
  const base = readConfig(
    {
      dataDir: str('KFRM_DATA_DIR', { default: '.data' }),
      databaseUrl: url('DATABASE_URL', ['postgres', 'postgresql'], { optional: true }),
      redisUrl: url('REDIS_URL', ['redis', 'rediss'], { optional: true }),
      mobileListen: listenAddress('KFRM_MOBILE_LISTEN', { default: '127.0.0.1:50051' }),
      internalListen: listenAddress('KFRM_INTERNAL_LISTEN', { default: '127.0.0.1:50052' }),
      tlsCertFile: str('KFRM_TLS_CERT_FILE', { optional: true }),
      tlsKeyFile: str('KFRM_TLS_KEY_FILE', { optional: true }),
      deviceCaCertFile: str('KFRM_DEVICE_CA_CERT_FILE', { optional: true }),
      deviceCaKeyFile: str('KFRM_DEVICE_CA_KEY_FILE', { optional: true }),
      migrateOnStart: oneOf('KFRM_MIGRATE_ON_START', ['auto', 'true', 'false'], { default: 'auto' }),
      logLevel: oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'silent'], { default: 'info' }),
      dbPoolMax: int('DB_POOL_MAX', { default: 10, min: 1, max: 200 }),
      dbStatementTimeoutMs: int('DB_STATEMENT_TIMEOUT_MS', { default: 10_000, min: 100, max: 600_000 }),
      shutdownGraceMs: int('KFRM_SHUTDOWN_GRACE_MS', { default: 10_000, min: 0, max: 300_000 }),
      maxReceiveMessageBytes: int('KFRM_MAX_RECEIVE_MESSAGE_BYTES', { default: 256 * 1024, min: 1024, max: 16 * 1024 * 1024 }),
    },
    env,
  );
  const mode = base.databaseUrl ? ('real' as const) : ('embedded' as const);
  const dataDir = resolve(base.dataDir);
  const tlsFromFiles = [base.tlsCertFile, base.tlsKeyFile, base.deviceCaCertFile, base.deviceCaKeyFile];
  if (mode === 'real' && tlsFromFiles.some((f) => f === undefined)) {
    // Real mode never invents certificates: a server whose identity changes at each start
    // would break every pinned app.
    throw new ConfigError(
      ['KFRM_TLS_CERT_FILE', 'KFRM_TLS_KEY_FILE', 'KFRM_DEVICE_CA_CERT_FILE', 'KFRM_DEVICE_CA_KEY_FILE']
        .filter((_, i) => tlsFromFiles[i] === undefined)
        .map((name) => `${name} is required when DATABASE_URL is set`),
    );
  }
  return {
    ...base,
    mode,
    dataDir,
    pgliteDir: join(dataDir, 'pglite'),
    devTlsDir: join(dataDir, 'tls'),
    migrateOnStart: base.migrateOnStart === 'auto' ? mode === 'embedded' : base.migrateOnStart === 'true',
  };
}

export type RuntimeConfig = ReturnType<typeof readRuntimeConfig>;
