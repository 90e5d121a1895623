/**
 * Metrics, tracing and log correlation of a running process, through real gRPC calls: the
 * tab-menu module on the mobile listener, and a small internal module whose handler calls
 * another internal method through the internal clients (a service-to-service call).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '@kfrm/db';
import { openTestDatabase, type TestDatabase } from '@kfrm/db/test-database';
import { createCapturingDestination } from '@kfrm/logging';
import { InMemorySpanExporter, type ReadableSpan } from '@kfrm/observability';
import { TabMenuServiceClient } from '@kfrm/proto/gen/kfrm/api/tabmenu/tab_menu';
import { UserServiceClient, UserServiceService } from '@kfrm/proto/gen/kfrm/api/user/user';
import { startServices, type RunningServices, type ServiceModule } from '@kfrm/runtime';
import { testServiceIdentity } from '@kfrm/runtime/testing/service-identity.fixtures';
import { defineService, type MethodPolicy } from '@kfrm/server-kit';
import { tabMenuModule } from '@kfrm/service-tab-menu';
import { createStore, type Store } from '@kfrm/store';

/** Promise form of a generated unary client method, with metadata. */
function call<Req, Res>(
  fn: (req: Req, md: grpc.Metadata, cb: (err: grpc.ServiceError | null, res: Res) => void) => unknown,
  req: Req,
  metadata = new grpc.Metadata(),
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, metadata, (err, res) => (err ? reject(err) : resolve(res))));
}

function withHeaders(headers: Record<string, string>): grpc.Metadata {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value);
  return metadata;
}

/**
 * FindByUserId calls FindBySessionToken through the internal clients (as a service calls
 * another) and touches the store; FindByCustomerId has no handler (UNIMPLEMENTED).
 */
const relayModule: ServiceModule = {
  name: 'relay-test',
  create({ internalClients, store }) {
    const policies = Object.fromEntries(
      Object.keys(UserServiceService).map((key) => [
        key,
        { access: 'internal', callers: ['*'] as readonly string[] } satisfies MethodPolicy,
      ]),
    );
    const registration = defineService(
      UserServiceService,
      {
        async findByUserId(request, ctx) {
          ctx.logger.info('relaying');
          await store.set(`relay:${request.userId}`, '1', { ttlMs: 60_000 });
          const users = internalClients.get(UserServiceClient);
          await call(users.findBySessionToken.bind(users), { sessionToken: `token-of-${request.userId}` });
          return { user: undefined };
        },
        async findBySessionToken() {
          return { userSession: undefined };
        },
      },
      policies as { [K in keyof typeof UserServiceService]: MethodPolicy },
    );
    return { internal: [registration] };
  },
};

interface LogLine {
  msg: string;
  method?: string;
  request_id?: string;
  trace_id?: string;
  span_id?: string;
  code?: string;
}

/** The value of one series in Prometheus text format, or undefined when it is absent. */
function sample(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...match[2]!.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

describe('observability of a running process', () => {
  let dataDir: string;
  let database: TestDatabase;
  /** On Postgres, a plain pool handle on the test database (the test wrapper shows no pool stats). */
  let db: DatabaseHandle;
  let store: Store;
  let running: RunningServices;
  let mobile: TabMenuServiceClient;
  let internal: UserServiceClient;
  const exporter = new InMemorySpanExporter();
  const logs = createCapturingDestination();
  const logLines = (): LogLine[] => logs.lines.map((line) => JSON.parse(line) as LogLine);
  const scrape = async (path = '/metrics') => fetch(`http://127.0.0.1:${running.metricsPort}${path}`);

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'kfrm-observability-'));
    database = await openTestDatabase();
    db = database.databaseUrl ? await openDatabase({ databaseUrl: database.databaseUrl, poolMax: 2 }) : database;
    store = await createStore({ redisUrl: process.env.REDIS_URL });
    // The internal listener over mTLS: the test calls it with a service's certificate.
    const identity = await testServiceIdentity(join(dataDir, 'internal-pki'), ['auth']);
    running = await startServices([tabMenuModule, relayModule], {
      name: 'observability-test',
      env: {
        KFRM_DATA_DIR: dataDir,
        KFRM_MOBILE_LISTEN: '127.0.0.1:0',
        KFRM_INTERNAL_LISTEN: '127.0.0.1:0',
        KFRM_METRICS_LISTEN: '127.0.0.1:0',
        KFRM_MIGRATE_ON_START: 'true',
        LOG_LEVEL: 'info',
        ...identity.env,
      },
      db,
      store,
      logDestination: logs,
      spanExporter: exporter,
    });
    mobile = new TabMenuServiceClient(
      `127.0.0.1:${running.mobilePort}`,
      grpc.credentials.createSsl(await readFile(running.serverCaCertFile)),
    );
    internal = new UserServiceClient(`127.0.0.1:${running.internalPort}`, identity.as('auth'));
  }, 60_000);

  afterAll(async () => {
    mobile?.close();
    internal?.close();
    await running?.stop();
    await store?.close();
    if (db !== database) await db?.close();
    await database?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('counts and times calls per listener, method and status code on GET /metrics', async () => {
    await call(mobile.listBenefitItems.bind(mobile), {});
    await call(mobile.listBenefitItems.bind(mobile), {});
    await expect(call(internal.findByCustomerId.bind(internal), { customerId: '1' } as never)).rejects.toMatchObject({
      code: grpc.status.UNIMPLEMENTED,
    });

    const response = await scrape();
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const text = await response.text();
    const tabMenu = { listener: 'mobile', service: 'kfrm.api.tabmenu.TabMenuService', method: 'ListBenefitItems' };
    expect(sample(text, 'kfrm_grpc_server_started_total', tabMenu)).toBe(2);
    expect(sample(text, 'kfrm_grpc_server_handled_total', { ...tabMenu, code: 'OK' })).toBe(2);
    expect(sample(text, 'kfrm_grpc_server_handling_seconds_count', tabMenu)).toBe(2);
    expect(sample(text, 'kfrm_grpc_server_handling_seconds_bucket', { ...tabMenu, le: '+Inf' })).toBe(2);
    const unimplemented = { listener: 'internal', service: 'kfrm.api.user.UserService', method: 'FindByCustomerId' };
    expect(sample(text, 'kfrm_grpc_server_handled_total', { ...unimplemented, code: 'UNIMPLEMENTED' })).toBe(1);
    expect(sample(text, 'kfrm_grpc_server_handled_total', { ...unimplemented, code: 'OK' })).toBeUndefined();
    // Node process metrics come from the same per-process registry.
    expect(text).toMatch(/^process_cpu_user_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_eventloop_lag_seconds /m);
  });

  it('reports the database pool (pg only) and the store operations', async () => {
    await call(internal.findByUserId.bind(internal), { userId: 'pool-check' });
    const text = await (await scrape()).text();
    expect(sample(text, 'kfrm_store_operations_total', { op: 'set', outcome: 'ok' })).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'kfrm_store_operation_seconds_count', { op: 'set' })).toBeGreaterThanOrEqual(1);
    const total = sample(text, 'kfrm_db_pool_connections', { state: 'total' });
    if (database.source === 'pglite') {
      // One in-process connection, no pool: no series rather than a made-up number.
      expect(total).toBeUndefined();
    } else {
      expect(total).toBeGreaterThanOrEqual(1);
      expect(sample(text, 'kfrm_db_pool_connections', { state: 'waiting' })).toBe(0);
    }
  });

  it('serves /healthz, and 404 elsewhere', async () => {
    const health = await scrape('/healthz');
    expect(health.status).toBe(200);
    expect(await health.text()).toBe('ok\n');
    expect((await scrape('/other')).status).toBe(404);
  });

  it('puts a service-to-service call into one trace, parent and child, with shared request id and trace id in the logs', async () => {
    exporter.reset();
    const requestId = 'trace-test-request-1';
    await call(internal.findByUserId.bind(internal), { userId: '42' }, withHeaders({ 'x-request-id': requestId }));

    const spans = exporter.getFinishedSpans();
    const outer = spans.find((s) => s.name === 'kfrm.api.user.UserService/FindByUserId');
    const inner = spans.find((s) => s.name === 'kfrm.api.user.UserService/FindBySessionToken');
    expect(spans).toHaveLength(2);
    expect(outer).toBeDefined();
    expect(inner).toBeDefined();
    const { traceId, spanId } = outer!.spanContext();
    expect(inner!.spanContext().traceId).toBe(traceId);
    expect(inner!.parentSpanContext?.spanId).toBe(spanId);
    expect(outer!.parentSpanContext).toBeUndefined();
    for (const span of [outer!, inner!] as ReadableSpan[]) {
      expect(span.attributes).toMatchObject({
        'rpc.system': 'grpc',
        'rpc.service': 'kfrm.api.user.UserService',
        'rpc.grpc.status_code': 0,
      });
    }
    expect(outer!.attributes['rpc.method']).toBe('FindByUserId');

    const lines = logLines().filter((line) => line.request_id === requestId);
    const done = (method: string) =>
      lines.find((line) => line.msg === 'call done' && line.method === `/kfrm.api.user.UserService/${method}`);
    expect(done('FindByUserId')).toMatchObject({ trace_id: traceId, span_id: spanId });
    expect(done('FindBySessionToken')).toMatchObject({ trace_id: traceId, span_id: inner!.spanContext().spanId });
    // The handler's own log line carries them too (it logs through ctx.logger).
    expect(lines.find((line) => line.msg === 'relaying')).toMatchObject({ trace_id: traceId });
  });

  it('continues a trace sent to the internal listener, but not one sent by a phone', async () => {
    exporter.reset();
    const remoteTraceId = '0af7651916cd43dd8448eb211c80319c';
    const traceparent = `00-${remoteTraceId}-b7ad6b7169203331-01`;
    await call(internal.findBySessionToken.bind(internal), { sessionToken: 't' }, withHeaders({ traceparent }));
    await call(mobile.listBenefitItems.bind(mobile), {}, withHeaders({ traceparent }));
    const [fromService, fromPhone] = exporter.getFinishedSpans();
    expect(fromService!.spanContext().traceId).toBe(remoteTraceId);
    expect(fromService!.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(fromPhone!.name).toBe('kfrm.api.tabmenu.TabMenuService/ListBenefitItems');
    expect(fromPhone!.spanContext().traceId).not.toBe(remoteTraceId);
    expect(fromPhone!.parentSpanContext).toBeUndefined();
  });
});
