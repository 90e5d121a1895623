// Internal-call benchmark (not a test): what one call between two services in the same process
// costs, by the three ways `unaryCall` can carry it (ADR 0004), against a bare grpc-js unary call
// over loopback for reference.
//
//   npx tsx bench/internal-calls.ts
//
// - direct: `unaryCall` on a client `internalClients` routes in process (`routeInProcess`): the
//   listener's in-process path without grpc-js's client (what the services use);
// - interceptor: the same client's method called directly, through grpc-js's client and the
//   in-process interceptor;
// - network: `unaryCall` on a client of the same listener over HTTP/2 (plaintext loopback);
// - bare: a grpc-js server and client, no listener around the handler.
//
// The callee is KeyService.GetKey on a GrpcListener with the internal guard's stand-in (open),
// logging at info to a sink that drops the lines (the listener writes one line per call, as in
// production). One caller, sequential calls: prints µs of wall clock and of process CPU (all
// threads: GC included) per call, the median of BENCH_ROUNDS rounds (default 5) of BENCH_CALLS
// calls (default 20,000; 5,000 for the network paths), and `uptime`.
import './lib/bench-limits';
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { createLogger } from '../packages/logging/src/index';
import { KeyServiceClient, KeyServiceService } from '@kfrm/proto/gen/kfrm/api/key/key';
import { defineService, GrpcListener, type AccessGuard } from '../packages/server-kit/src/index';
import { inProcessInterceptor, routeInProcess } from '../packages/runtime/src/in-process-calls';
import { unaryCall } from '../packages/runtime/src/internal-calls';
import { propagationInterceptor } from '../packages/runtime/src/internal-clients';

const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const calls = Number(process.env.BENCH_CALLS ?? 20_000);
const openGuard: AccessGuard = { authorize: async (level) => ({ level }) };
const dropLines = new Writable({ write: (_chunk, _encoding, done) => done() });
const answer = { provider: 1, sessionId: 'session-1', publicKey: 'public-key' };

const listener = new GrpcListener({
  name: 'internal',
  host: '127.0.0.1',
  port: 0,
  credentials: grpc.ServerCredentials.createInsecure(),
  guard: openGuard,
  logger: createLogger({ service: 'bench', level: 'info', destination: dropLines }),
});
listener.addService(
  defineService(KeyServiceService, { getKey: async () => answer }, { getKey: { access: 'internal' }, listKeys: { access: 'internal' } }),
);
const port = await listener.start();
const resolve = (path: string) => listener.inProcessUnary(path);
const routed = new KeyServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
  interceptors: [propagationInterceptor, inProcessInterceptor(resolve)],
});
routeInProcess(routed, resolve);
const network = new KeyServiceClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { interceptors: [propagationInterceptor] });

const bareServer = new grpc.Server();
bareServer.addService(KeyServiceService, {
  getKey: (_call: unknown, callback: grpc.sendUnaryData<typeof answer>) => callback(null, answer),
  listKeys: (_call: unknown, callback: grpc.sendUnaryData<unknown>) => callback(null, { keys: [] }),
});
const barePort = await new Promise<number>((done, fail) =>
  bareServer.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? fail(err) : done(p))),
);
const bare = new KeyServiceClient(`127.0.0.1:${barePort}`, grpc.credentials.createInsecure());

const viaClient = (client: KeyServiceClient) => () =>
  new Promise<unknown>((done, fail) => client.getKey({ provider: 1 }, (err, res) => (err ? fail(err) : done(res))));

const paths: { name: string; call: () => Promise<unknown>; calls: number }[] = [
  { name: 'direct (unaryCall, routed in process)', call: () => unaryCall(routed, 'getKey', { provider: 1 }), calls },
  { name: 'interceptor (grpc-js client, in process)', call: viaClient(routed), calls },
  { name: 'network (unaryCall over loopback HTTP/2)', call: () => unaryCall(network, 'getKey', { provider: 1 }), calls: calls / 4 },
  { name: 'bare grpc-js (loopback HTTP/2)', call: viaClient(bare), calls: calls / 4 },
];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`internal calls: ${rounds} rounds per path, one caller; load before: ${execFileSync('uptime').toString().trim()}`);
console.log('| path | µs wall per call | µs CPU per call |');
console.log('|---|---:|---:|');
const results = new Map<string, number>();
for (const path of paths) {
  for (let i = 0; i < path.calls / 10; i++) await path.call(); // warm-up
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < path.calls; i++) await path.call();
    const used = process.cpuUsage(cpu0);
    wall.push(((performance.now() - t0) * 1000) / path.calls);
    cpu.push((used.user + used.system) / path.calls);
  }
  results.set(path.name, median(cpu));
  console.log(`| ${path.name} | ${median(wall).toFixed(1)} | ${median(cpu).toFixed(1)} |`);
}
const [direct, interceptor] = [results.get(paths[0]!.name)!, results.get(paths[1]!.name)!];
console.log(`direct / interceptor CPU: ${(direct / interceptor).toFixed(2)}`);
console.log(`load after: ${execFileSync('uptime').toString().trim()}`);

routed.close();
network.close();
bare.close();
await listener.shutdown(100);
await new Promise<void>((done) => bareServer.tryShutdown(() => done()));
