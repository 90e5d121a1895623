import { readFile } from 'node:fs/promises';
import { AUDIT_SCHEMA, AuditLog, auditMigrations } from '@kfrm/audit';
import { openDatabase, migrateSchemas, type DatabaseHandle } from '@kfrm/db';
import { createLogger, type Logger } from '@kfrm/logging';
import {
  createDeviceVerifier,
  listenToRevocationFacts,
  loadDeviceCa,
  type RevocationFact,
  withLocalRevocationFacts,
} from '@kfrm/device-trust';
import { ensureDevCertificates } from '@kfrm/pki';
import {
  createGrpcServerObserver,
  createMetrics,
  createTracing,
  startMetricsEndpoint,
  type KfrmMetrics,
  type MetricsEndpoint,
  type SpanExporter,
  type Tracing,
} from '@kfrm/observability';
import { descriptorSetPath } from '@kfrm/proto';
import { EDGE_IDENTITY_URI } from '@kfrm/pki';
import {
  GrpcListener,
  createMobileAccessGuard,
  edgeForwardedClientAddress,
  edgeForwardedClientCertificate,
  edgeServerCredentials,
  createInternalAccessGuard,
  internalServerCredentials,
  mobileServerCredentials,
  noClientCertificate,
  type AccessRefusal,
  type InternalTlsFiles,
} from '@kfrm/server-kit';
import { createStore, instrumentStore, prefixed, type Store } from '@kfrm/store';
import type { DestinationStream } from 'pino';
import { createInternalClients, type InternalClients } from './internal-clients';
import { createOperatorVerifier } from './operator-issuer';
import { unaryCall } from './internal-calls';
import { OperatorApprovalServiceClient } from '@kfrm/proto/gen/kfrm/api/user/operator_approval_internal';
import { watchDependencies } from './dependency-health';
import { cacheSessions } from './session-cache';
import { createSessionResolver } from './session-resolver';
import { checkProcessSecrets } from './process-secrets';
import { readRuntimeConfig, type RuntimeConfig } from './runtime-config';
import type { ServiceInstance, ServiceModule } from './service-module';

export interface RunningServices {
  config: RuntimeConfig;
  logger: Logger;
  /** The direct mobile listener's port; throws when it is off (KFRM_MOBILE_LISTEN=off). */
  readonly mobilePort: number;
  /** The edge listener's port (KFRM_EDGE_LISTEN), undefined without one. */
  edgePort: number | undefined;
  /** Full paths of registered methods that have no handler (they answer UNIMPLEMENTED). */
  unimplementedMethods: string[];
  internalPort: number;
  /** The process's own internal clients (its in-process calls carry the process's name). */
  internalClients: InternalClients;
  /**
   * Internal clients calling in `service`'s name, as the module of that name does: for tests
   * that drive a service's use cases against the others.
   */
  internalClientsOf(service: string): InternalClients;
  /** The CA a client must trust to reach the mobile listener. */
  serverCaCertFile: string;
  deviceCaCertFile: string;
  /** Undefined in real mode for a process without the device service: only it holds the key. */
  deviceCaKeyFile: string | undefined;
  db: DatabaseHandle;
  /** The store the services use (instrumented: its operations are counted in `metrics`). */
  store: Store;
  /** This process's registry; `metrics.streamSubscribers` is for services that hold streams open. */
  metrics: KfrmMetrics;
  /** Port of GET /metrics and /healthz; undefined when KFRM_METRICS_LISTEN was taken. */
  metricsPort: number | undefined;
  tracing: Tracing;
  /** Drain both listeners, close the services, then the store and the database. */
  stop(): Promise<void>;
}

export interface StartOptions {
  /** Process name for logs: 'backend' or the service's name. */
  name: string;
  env?: Record<string, string | undefined>;
  /** Tests capture logs here. */
  logDestination?: DestinationStream;
  /** Tests pass their own isolated database and store; the caller then closes them. */
  db?: DatabaseHandle;
  store?: Store;
  /** Tests: every finished span is exported here as well (e.g. an InMemorySpanExporter). */
  spanExporter?: SpanExporter;
}

/**
 * How stale the mobile guard's view of a session or of a device's revocation may be when the
 * revocation's announcement is lost (issue 17: revocation effective within 1 s). Announced
 * revocations (revocation facts) take effect at once.
 */
const ACCESS_STATE_STALENESS_MS = 1_000;

/**
 * The metrics endpoint is not on any request's path: when its port is taken (two processes on
 * one host with the default, parallel test files) the process still serves, logs why, and the
 * scrape target shows as down.
 */
async function startMetricsIfFree(metrics: KfrmMetrics, config: RuntimeConfig, logger: Logger): Promise<MetricsEndpoint | undefined> {
  try {
    const endpoint = await startMetricsEndpoint({ metrics, ...config.metricsListen });
    logger.info({ address: `${config.metricsListen.host}:${endpoint.port}` }, 'metrics endpoint listening');
    return endpoint;
  } catch (err) {
    if ((err as { code?: unknown }).code !== 'EADDRINUSE') throw err;
    logger.warn({ address: `${config.metricsListen.host}:${config.metricsListen.port}` }, 'metrics endpoint not started: address in use');
    return undefined;
  }
}

/**
 * Runs every module's migrations, in module order, each in its own schema — after the audit
 * log's (schema `audit`, @kfrm/audit), which every process writes to. When all are applied
 * already (every start after the first) that is one statement (migrateSchemas).
 */
export async function migrateModules(db: DatabaseHandle, modules: ServiceModule[], logger: Logger): Promise<void> {
  const plans = [{ schema: AUDIT_SCHEMA, migrations: auditMigrations, module: 'audit' }];
  for (const module of modules) {
    if (!module.schema || !module.migrations) continue;
    plans.push({ schema: module.schema, migrations: module.migrations, module: module.name });
  }
  const results = await migrateSchemas(db, plans);
  const executed = results.filter((r) => r.executed.length > 0);
  if (executed.length === 0) logger.info({ schemas: plans.length }, 'migrations up to date');
  for (const result of executed) {
    const plan = plans.find((p) => p.schema === result.schema)!;
    logger.info({ module: plan.module, schema: result.schema, executed: result.executed }, 'migrations applied');
  }
}

async function tlsFiles(config: RuntimeConfig): Promise<{
  serverCertFile: string;
  serverKeyFile: string;
  deviceCaCertFile: string;
  deviceCaKeyFile: string | undefined;
  serverCaCertFile: string;
}> {
  if (config.mode === 'real') {
    // Present and readable: checkProcessSecrets ran first.
    return {
      serverCertFile: config.tlsCertFile!,
      serverKeyFile: config.tlsKeyFile!,
      deviceCaCertFile: config.deviceCaCertFile!,
      deviceCaKeyFile: config.deviceCaKeyFile,
      serverCaCertFile: config.tlsCertFile!,
    };
  }
  return ensureDevCertificates(config.devTlsDir);
}

/** The audit log's action for each refusal of the internal guard (docs/operators.md, "Audit log"). */
const REFUSAL_ACTIONS: Record<AccessRefusal['kind'], string> = {
  'operator-authentication-failed': 'operator.authentication_failed',
  'operator-call-refused': 'operator.call_refused',
  'caller-unknown': 'internal.caller_unknown',
  'service-call-refused': 'internal.call_refused',
};

/**
 * This process's internal certificate, key and the internal CA, when all three are given: the
 * internal listener then takes mTLS and the internal clients present the certificate. Without
 * them (the embedded default) the internal listener is plaintext on loopback and only
 * in-process calls carry a service identity.
 */
function internalTlsOf(config: RuntimeConfig): InternalTlsFiles | undefined {
  const { internalTlsCertFile: certFile, internalTlsKeyFile: keyFile, internalCaCertFile: clientCaFile } = config;
  return certFile && keyFile && clientCaFile ? { certFile, keyFile, clientCaFile } : undefined;
}

/**
 * A promise started now and awaited later: its rejection is not "unhandled" while start-up is
 * still awaiting something else (Node would end the process), and is thrown where awaited.
 */
function settledLater<T>(promise: Promise<T>): { promise: Promise<T> } {
  promise.catch(() => undefined);
  return { promise };
}

/**
 * What a module registers on the mobile listener must be the packages it declares (the edge's
 * routes). Modules without a declaration (test stand-ins) are not checked; validate:deploy
 * requires one of every deployed service.
 */
function checkMobilePackages(module: ServiceModule, instance: ServiceInstance): void {
  const declared = module.mobilePackages;
  if (declared === undefined) return;
  const undeclared = (instance.mobile ?? []).map((r) => r.name).filter((name) => !declared.some((p) => name.startsWith(`${p}.`)));
  const unused = declared.filter((p) => !(instance.mobile ?? []).some((r) => r.name.startsWith(`${p}.`)));
  if (undeclared.length > 0 || unused.length > 0) {
    throw new Error(
      `module ${module.name}: mobilePackages ${JSON.stringify(declared)} do not match the services it registers on the mobile listener` +
        ` (${undeclared.length > 0 ? `undeclared: ${undeclared.join(', ')}` : `declared but not served: ${unused.join(', ')}`})`,
    );
  }
}

/**
 * The shared start-up of every entry point: configuration, logger, database, store, migrations
 * (embedded default), both listeners with the modules' services, and an orderly stop.
 */
export async function startServices(modules: ServiceModule[], options: StartOptions): Promise<RunningServices> {
  const env = options.env ?? process.env;
  const config = readRuntimeConfig(env);
  // Before anything is opened: a missing secret is one message naming every variable.
  checkProcessSecrets(modules, env);
  const logger = createLogger({ service: options.name, level: config.logLevel, destination: options.logDestination });
  logger.info({ mode: config.mode, data_dir: config.mode === 'embedded' ? config.dataDir : undefined }, 'starting');
  // One registry and one tracer provider per process, passed down (never the global ones).
  const metrics = createMetrics();
  const tracing = createTracing({ serviceName: options.name, otlpEndpoint: config.otlpEndpoint, exporter: options.spanExporter });

  // Start-up waits on files, the database, the store and key material that do not depend on
  // each other: all are started at once and awaited where first needed, so the waits overlap
  // (docs/performance.md, "Start to first health answer"). Each is awaited below in the order
  // the start always had, so a failing one still reports as it did.
  const filesStarted = settledLater(tlsFiles(config));
  // Parsed and checked once (a CA, valid now); the key stays on disk until the device service loads it.
  const deviceCaStarted = settledLater(
    filesStarted.promise.then((files) => loadDeviceCa({ certFile: files.deviceCaCertFile, keyFile: files.deviceCaKeyFile })),
  );
  const descriptorSetStarted = settledLater(readFile(descriptorSetPath));
  const operatorVerifierStarted = settledLater(createOperatorVerifier(config));
  const ownsDb = !options.db;
  const ownsStore = !options.store;
  const dbStarted = settledLater(
    options.db
      ? Promise.resolve(options.db)
      : openDatabase({
          databaseUrl: config.databaseUrl,
          dataDir: config.pgliteDir,
          poolMax: config.dbPoolMax,
          statementTimeoutMs: config.dbStatementTimeoutMs,
          preparedStatements: config.dbPreparedStatements,
          log: logger.child({ component: 'db' }),
        }),
  );
  const storeStarted = settledLater(options.store ? Promise.resolve(options.store) : createStore({ redisUrl: config.redisUrl }));
  let files: Awaited<ReturnType<typeof tlsFiles>>;
  let deviceCa: Awaited<ReturnType<typeof loadDeviceCa>>;
  let db: DatabaseHandle;
  try {
    files = await filesStarted.promise;
    deviceCa = await deviceCaStarted.promise;
    db = await dbStarted.promise;
  } catch (err) {
    // Nothing else is left open or running.
    if (ownsDb) await dbStarted.promise.then((opened) => opened.close()).catch(() => undefined);
    if (ownsStore) await storeStarted.promise.then((opened) => opened.close()).catch(() => undefined);
    throw err;
  }
  metrics.observeDbPool(() => db.poolStats?.());
  let store: Store | undefined;
  let onRevocationFact: (fact: RevocationFact | 'gap') => void = () => {};
  let revocationFacts: ReturnType<typeof listenToRevocationFacts> | undefined;
  let metricsEndpoint: MetricsEndpoint | undefined;
  const instances: ServiceInstance[] = [];
  const listeners: GrpcListener[] = [];
  try {
    // Revocation facts this process publishes reach its own guard before the revoking call returns.
    store = withLocalRevocationFacts(instrumentStore(await storeStarted.promise, metrics.storeObserver), (fact) => onRevocationFact(fact));
    if (config.migrateOnStart) await migrateModules(db, modules, logger);

    const descriptorSet = await descriptorSetStarted.promise;
    let internalPort: number | undefined;
    // This process's internal certificate: the internal listener's mTLS and, over the network,
    // the identity of every call it makes (docs/adr/0014-service-identity.md).
    const internalTls = internalTlsOf(config);
    // Each module gets clients of its own, so that its in-process calls carry its name; the
    // process's own calls (session lookups, approval submissions) carry the process's.
    const clientSets = new Map<string, InternalClients>();
    const clientsFor = (caller: string) => {
      let clients = clientSets.get(caller);
      if (!clients) {
        clients = createInternalClients({
          targets: config.internalTargets,
          defaultTarget: config.internalTarget,
          ownListener: () => {
            if (internalPort === undefined) throw new Error('internal clients are usable once the listeners are up');
            return { host: config.internalListen.host, port: internalPort };
          },
          // Resolved per client on first use, once every module's services are registered.
          inProcess: config.internalInProcess ? (path) => internal.inProcessUnary(path) : undefined,
          callerService: caller,
          tls: internalTls && { certFile: internalTls.certFile, keyFile: internalTls.keyFile, caFile: internalTls.clientCaFile },
        });
        clientSets.set(caller, clients);
      }
      return clients;
    };
    const internalClients = clientsFor(options.name);
    // Chain, validity, clientAuth, the device id it names, and revocation (a store read that
    // fails closed: an unreachable store is UNAVAILABLE, never "not revoked"), its "not revoked"
    // remembered for the staleness bound.
    const verifyDevice = createDeviceVerifier({
      deviceCaCert: deviceCa.certificate,
      store,
      logger: logger.child({ component: 'device-trust' }),
      revocationCacheMs: ACCESS_STATE_STALENESS_MS,
    });
    // Resolved sessions remembered for the same bound (docs/performance.md, reads).
    const sessions = cacheSessions(createSessionResolver(internalClients), { maxStalenessMs: ACCESS_STATE_STALENESS_MS });
    onRevocationFact = (fact) => {
      verifyDevice.onRevocationFact(fact);
      sessions.onRevocationFact(fact);
    };
    revocationFacts = listenToRevocationFacts(store, onRevocationFact, logger.child({ component: 'revocation-facts' }));
    await revocationFacts.ready;
    const mobileGuard = createMobileAccessGuard({ verifyDevice, resolveSession: sessions.resolve });
    // The phone-facing services are served on the direct mobile listener, on the edge listener,
    // or both; one guard (and so one device-certificate cache) for both, and one set of
    // idempotency records, so a retry that reaches the other listener still finds its answer.
    const idempotency = { records: prefixed(store, 'idempotency:') };
    const phoneFacing: GrpcListener[] = [];
    const mobile = config.mobileListen
      ? new GrpcListener({
          name: 'mobile',
          ...config.mobileListen,
          credentials: mobileServerCredentials({
            certFile: files.serverCertFile,
            keyFile: files.serverKeyFile,
            clientCaFile: files.deviceCaCertFile,
          }),
          guard: mobileGuard,
          idempotency,
          logger,
          descriptorSet,
          limits: { maxReceiveMessageBytes: config.maxReceiveMessageBytes },
          // Trace context from a phone is not trusted: mobile calls start their own traces.
          observer: createGrpcServerObserver({ listener: 'mobile', metrics, tracing, trustIncomingTraceContext: false }),
        })
      : undefined;
    if (mobile) phoneFacing.push(mobile);
    const edge = config.edgeListen
      ? new GrpcListener({
          name: 'edge',
          ...config.edgeListen,
          credentials: edgeServerCredentials({
            certFile: config.internalTlsCertFile!,
            keyFile: config.internalTlsKeyFile!,
            clientCaFile: config.internalCaCertFile!,
          }),
          guard: mobileGuard,
          idempotency,
          clientCertificate: edgeForwardedClientCertificate(EDGE_IDENTITY_URI),
          clientAddress: edgeForwardedClientAddress,
          reflectionAlsoLists: config.edgeReflectionServices,
          logger,
          descriptorSet,
          limits: { maxReceiveMessageBytes: config.maxReceiveMessageBytes },
          // The edge passes the phone's trace headers through: as untrusted as on the mobile listener.
          observer: createGrpcServerObserver({ listener: 'edge', metrics, tracing, trustIncomingTraceContext: false }),
        })
      : undefined;
    if (edge) phoneFacing.push(edge);
    const accessLog = logger.child({ component: 'operator-access' });
    // Every process appends to the one audit log in the database (docs/adr/0009-audit-log.md).
    const audit = new AuditLog(db);
    const internal = new GrpcListener({
      name: 'internal',
      ...config.internalListen,
      credentials: internalServerCredentials(internalTls),
      guard: createInternalAccessGuard({
        verifyOperator: await operatorVerifierStarted.promise,
        onRefusal: async (refusal) => {
          accessLog.warn(
            { event: refusal.kind, method: refusal.method, operator: refusal.subject, service: refusal.service, reason: refusal.reason },
            'internal call refused',
          );
          await audit
            .append({
              actorKind: refusal.subject ? 'operator' : refusal.service ? 'service' : 'anonymous',
              actor: refusal.subject ?? refusal.service ?? '',
              action: REFUSAL_ACTIONS[refusal.kind],
              target: refusal.method,
              outcome:
                refusal.kind === 'operator-authentication-failed' || refusal.kind === 'caller-unknown'
                  ? 'UNAUTHENTICATED'
                  : 'PERMISSION_DENIED',
              detail: { reason: refusal.reason },
            })
            .catch((err: unknown) => accessLog.error({ err, method: refusal.method }, 'audit append failed'));
        },
      }),
      audit,
      // Operator calls that need a second operator: submitted to OperatorApprovalService (user
      // service) as a call of this process.
      approvals: {
        submit: async (submission) => {
          const { request } = await unaryCall(internalClients.get(OperatorApprovalServiceClient), 'submitApproval', {
            ...submission,
            request: Buffer.from(submission.request),
            roles: [...submission.roles],
          });
          return request!.approvalId;
        },
      },
      clientCertificate: noClientCertificate,
      reflectionAlsoLists: config.internalReflectionServices,
      logger,
      descriptorSet,
      limits: { maxReceiveMessageBytes: config.maxReceiveMessageBytes },
      observer: createGrpcServerObserver({ listener: 'internal', metrics, tracing, trustIncomingTraceContext: true }),
    });

    listeners.push(...phoneFacing, internal);
    for (const module of modules) {
      const instance = await module.create({
        db,
        store,
        logger: logger.child({ component: module.name }),
        config,
        deviceCa,
        internalClients: clientsFor(module.name),
        metrics,
        audit,
      });
      instances.push(instance);
      checkMobilePackages(module, instance);
      for (const registration of instance.mobile ?? []) for (const listener of phoneFacing) listener.addService(registration);
      for (const registration of instance.internal ?? []) internal.addService(registration);
    }
    // NOT_SERVING until the whole start is done (see the end): an orchestrator that sees SERVING
    // sends calls, and may send SIGTERM, which runService only handles once this returns.
    internalPort = await internal.start({ serving: false });
    const mobilePort = await mobile?.start({ serving: false });
    const edgePort = await edge?.start({ serving: false });
    for (const instance of instances) await instance.start?.();
    metricsEndpoint = await startMetricsIfFree(metrics, config, logger);
    const openMetrics = metricsEndpoint;
    const dependencies = watchDependencies({
      db,
      store,
      // A store passed in by a test stands for Redis when REDIS_URL is set, as createStore does.
      storeIsRemote: config.redisUrl !== undefined,
      metrics,
      logger,
      intervalMs: config.dependencyCheckMs,
      timeoutMs: Math.max(100, Math.min(1_000, config.dependencyCheckMs)),
      onChange(serving) {
        for (const listener of phoneFacing) listener.setServing(serving);
        internal.setServing(serving);
      },
    });

    let stopped: Promise<void> | undefined;
    const openStore = store;
    // Last, and synchronous up to the return: no health answer can say SERVING before the caller
    // (runService) has its shutdown handler in place, in the same turn of the event loop.
    for (const listener of [...phoneFacing, internal]) listener.setServing(true);
    return {
      config,
      logger,
      get mobilePort(): number {
        if (mobilePort === undefined) throw new Error('the mobile listener is off (KFRM_MOBILE_LISTEN=off)');
        return mobilePort;
      },
      edgePort,
      unimplementedMethods: [...(phoneFacing[0]?.unimplementedMethods ?? []), ...internal.unimplementedMethods],
      internalPort,
      internalClients,
      internalClientsOf: clientsFor,
      serverCaCertFile: files.serverCaCertFile,
      deviceCaCertFile: files.deviceCaCertFile,
      deviceCaKeyFile: files.deviceCaKeyFile,
      db,
      store: openStore,
      metrics,
      metricsPort: openMetrics?.port,
      tracing,
      stop() {
        stopped ??= (async () => {
          dependencies.stop();
          await Promise.all([...phoneFacing, internal].map((listener) => listener.shutdown(config.shutdownGraceMs)));
          for (const instance of instances.reverse()) await instance.close?.();
          for (const clients of clientSets.values()) clients.close();
          await revocationFacts?.stop();
          if (ownsStore) await openStore.close();
          if (ownsDb) await db.close();
          // Last, so the endpoint shows the final counts while draining and the last spans are sent.
          await openMetrics?.close();
          await tracing.shutdown();
        })();
        return stopped;
      },
    };
  } catch (err) {
    // A failed start must not leave ports bound or background work running.
    await Promise.all(listeners.map((listener) => listener.shutdown(0).catch(() => undefined)));
    for (const instance of instances.reverse()) await instance.close?.().catch(() => undefined);
    await revocationFacts?.stop().catch(() => undefined);
    if (ownsStore) await storeStarted.promise.then((opened) => opened.close()).catch(() => undefined);
    if (ownsDb) await db.close().catch(() => undefined);
    await metricsEndpoint?.close().catch(() => undefined);
    await tracing.shutdown().catch(() => undefined);
    throw err;
  }
}
