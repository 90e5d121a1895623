import { join, resolve } from 'node:path';
import { bool, ConfigError, int, listenAddress, oneOf, readConfig, str, url, type Env } from '@kfrm/config';

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
      // `off`: no direct mobile listener (the service runs split behind the edge).
      mobileListen: listenAddress('KFRM_MOBILE_LISTEN', { default: '127.0.0.1:50051', off: true }),
      // Split behind an edge (nginx): a listener that takes mTLS only from the internal CA, where
      // a connection presenting the edge's certificate may forward the phone's client certificate
      // in a header (docs/adr/0007-edge-nginx.md). Unset = no edge listener.
      edgeListen: listenAddress('KFRM_EDGE_LISTEN', { optional: true }),
      // Full service names the edge listener's reflection lists besides its own (comma-separated):
      // the edge sends all reflection to one service, which then answers for every one behind it.
      edgeReflectionServices: str('KFRM_EDGE_REFLECTION_SERVICES', { default: '' }),
      // The same for the internal listener, where the edge's operator address sends reflection.
      internalReflectionServices: str('KFRM_INTERNAL_REFLECTION_SERVICES', { default: '' }),
      internalTlsCertFile: str('KFRM_INTERNAL_TLS_CERT_FILE', { optional: true }),
      internalTlsKeyFile: str('KFRM_INTERNAL_TLS_KEY_FILE', { optional: true }),
      internalCaCertFile: str('KFRM_INTERNAL_CA_CERT_FILE', { optional: true }),
      internalListen: listenAddress('KFRM_INTERNAL_LISTEN', { default: '127.0.0.1:50052' }),
      tlsCertFile: str('KFRM_TLS_CERT_FILE', { optional: true }),
      tlsKeyFile: str('KFRM_TLS_KEY_FILE', { optional: true }),
      deviceCaCertFile: str('KFRM_DEVICE_CA_CERT_FILE', { optional: true }),
      deviceCaKeyFile: str('KFRM_DEVICE_CA_KEY_FILE', { optional: true }),
      // Seals E2E session private keys in the store (32 raw bytes, or their base64).
      e2eKekFile: str('KFRM_E2E_KEK_FILE', { optional: true }),
      // Auth service: pepper of PIN/pattern hashes (>= 32 raw bytes, or their base64) and the CA
      // that issues users' signing certificates. The auth module requires them in real mode; the
      // embedded default generates them into the data directory.
      authPepperFile: str('KFRM_AUTH_PEPPER_FILE', { optional: true }),
      signingCaCertFile: str('KFRM_SIGNING_CA_CERT_FILE', { optional: true }),
      signingCaKeyFile: str('KFRM_SIGNING_CA_KEY_FILE', { optional: true }),
      // Where other services' internal APIs are; unset = this process's internal listener.
      internalTarget: str('KFRM_INTERNAL_TARGET', { optional: true }),
      // Calls to a service in this same process skip HTTP/2 (guard, handler, metrics, spans and
      // logs as for a network call); false sends them through the own internal listener.
      internalInProcess: bool('KFRM_INTERNAL_IN_PROCESS', { default: true }),
      // E2eTestService (EncryptText/DecryptText, for app teams): auto = on in the embedded
      // default, off in real mode, where DecryptText would be a decryption oracle.
      e2eTestService: oneOf('KFRM_E2E_TEST_SERVICE', ['auto', 'true', 'false'], { default: 'auto' }),
      migrateOnStart: oneOf('KFRM_MIGRATE_ON_START', ['auto', 'true', 'false'], { default: 'auto' }),
      logLevel: oneOf('LOG_LEVEL', ['trace', 'debug', 'info', 'warn', 'error', 'silent'], { default: 'info' }),
      dbPoolMax: int('DB_POOL_MAX', { default: 10, min: 1, max: 200 }),
      dbStatementTimeoutMs: int('DB_STATEMENT_TIMEOUT_MS', { default: 10_000, min: 100, max: 600_000 }),
      // Hot fixed-shape statements as named prepared statements (parsed once per connection).
      // false for a pooler that cannot carry them (PgBouncer in transaction mode before 1.21).
      dbPreparedStatements: bool('DB_PREPARED_STATEMENTS', { default: true }),
      // How often PostgreSQL and Redis are checked for grpc.health.v1 (NOT_SERVING while one is down).
      dependencyCheckMs: int('KFRM_DEPENDENCY_CHECK_MS', { default: 1_000, min: 100, max: 60_000 }),
      shutdownGraceMs: int('KFRM_SHUTDOWN_GRACE_MS', { default: 10_000, min: 0, max: 300_000 }),
      maxReceiveMessageBytes: int('KFRM_MAX_RECEIVE_MESSAGE_BYTES', { default: 256 * 1024, min: 1024, max: 16 * 1024 * 1024 }),
      // Operators' bearer tokens (docs/operators.md): the identity provider's JWKS, issuer and
      // audience. Unset in the embedded default: the local issuer in the data directory.
      operatorJwksUrl: url('KFRM_OPERATOR_JWKS_URL', ['http', 'https'], { optional: true }),
      // Or a JWKS file: a local issuer's (start:split makes one in the data directory, as the
      // embedded default does); issuer and audience then default to the local issuer's.
      operatorJwksFile: str('KFRM_OPERATOR_JWKS_FILE', { optional: true }),
      operatorIssuer: str('KFRM_OPERATOR_ISSUER', { optional: true }),
      operatorAudience: str('KFRM_OPERATOR_AUDIENCE', { optional: true }),
      // Maker-checker: an operator's Deposit above this many won (or in another currency) waits
      // for a second operator's approval (docs/operators.md, "Approvals").
      operatorApprovalThresholdKrw: int('KFRM_OPERATOR_APPROVAL_THRESHOLD_KRW', { default: 1_000_000, min: 0, max: 1_000_000_000_000 }),
      // The back-office web console's HTTP listener (services/back-office); `off`: none in this
      // process. Here rather than in the module's settings so that entry points and test
      // harnesses choose it like the other listeners.
      backOfficeListen: listenAddress('KFRM_BACK_OFFICE_LISTEN', { default: '127.0.0.1:50060', off: true }),
      // Prometheus scrape endpoint (GET /metrics, GET /healthz), plain HTTP.
      metricsListen: listenAddress('KFRM_METRICS_LISTEN', { default: '127.0.0.1:9464' }),
      // OTLP/HTTP collector base URL; unset = spans are made (ids reach logs and callees) but not exported.
      otlpEndpoint: url('OTEL_EXPORTER_OTLP_ENDPOINT', ['http', 'https'], { optional: true }),
    },
    env,
  );
  // KFRM_INTERNAL_TARGET_<PKG>=host:port routes one service package's internal API elsewhere.
  const internalTargets: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    const match = /^KFRM_INTERNAL_TARGET_([A-Z0-9_]+)$/.exec(name);
    if (match && value) internalTargets[match[1]!.toLowerCase()] = value.trim();
  }
  const mode = base.databaseUrl ? ('real' as const) : ('embedded' as const);
  const dataDir = resolve(base.dataDir);
  // Real mode never invents certificates or keys (a server whose identity changes at each start
  // would break every pinned app); which files it requires depends on the services a process
  // runs, so checkProcessSecrets (process-secrets.ts) checks them at start.
  const edgeFiles = {
    KFRM_INTERNAL_TLS_CERT_FILE: base.internalTlsCertFile,
    KFRM_INTERNAL_TLS_KEY_FILE: base.internalTlsKeyFile,
    KFRM_INTERNAL_CA_CERT_FILE: base.internalCaCertFile,
  };
  if (base.edgeListen && Object.values(edgeFiles).some((f) => f === undefined)) {
    // The edge listener trusts forwarded certificates; without its own mTLS it would trust anyone.
    throw new ConfigError(
      Object.entries(edgeFiles)
        .filter(([, file]) => file === undefined)
        .map(([name]) => `${name} is required when KFRM_EDGE_LISTEN is set`),
    );
  }
  if (base.operatorJwksUrl && (!base.operatorIssuer || !base.operatorAudience)) {
    // An identity provider's JWKS without issuer and audience would accept any token it signs,
    // for any client of that realm.
    throw new ConfigError(
      [
        base.operatorIssuer ? undefined : 'KFRM_OPERATOR_ISSUER is required with KFRM_OPERATOR_JWKS_URL',
        base.operatorAudience ? undefined : 'KFRM_OPERATOR_AUDIENCE is required with KFRM_OPERATOR_JWKS_URL',
      ].filter((m): m is string => m !== undefined),
    );
  }
  if (base.operatorJwksUrl && base.operatorJwksFile) {
    throw new ConfigError(['KFRM_OPERATOR_JWKS_URL and KFRM_OPERATOR_JWKS_FILE are exclusive: one issuer']);
  }
  return {
    ...base,
    // Where the embedded default's operator issuer keeps its key pair (operator-issuer.ts).
    operatorIssuerDir: join(dataDir, 'operator-issuer'),
    edgeReflectionServices: nameList(base.edgeReflectionServices),
    internalReflectionServices: nameList(base.internalReflectionServices),
    mode,
    dataDir,
    internalTargets,
    pgliteDir: join(dataDir, 'pglite'),
    devTlsDir: join(dataDir, 'tls'),
    // The embedded default generates the key once into the data directory (see @kfrm/e2e-crypto).
    e2eKekFile: base.e2eKekFile ?? join(dataDir, 'keys', 'e2e-kek'),
    e2eKekGenerate: base.e2eKekFile === undefined && mode === 'embedded',
    migrateOnStart: base.migrateOnStart === 'auto' ? mode === 'embedded' : base.migrateOnStart === 'true',
    e2eTestService: base.e2eTestService === 'auto' ? mode === 'embedded' : base.e2eTestService === 'true',
  };
}

function nameList(text: string): string[] {
  return text
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
}

export type RuntimeConfig = ReturnType<typeof readRuntimeConfig>;
