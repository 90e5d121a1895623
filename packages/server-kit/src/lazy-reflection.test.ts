import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { descriptorSetPath } from '@kfrm/proto';
import { splitFileDescriptorSet } from './descriptor-set';
import { addLazyReflection } from './lazy-reflection';

// The library's own reflection.proto files, loaded with its own options, for a client of both versions.
const reflectionProtoDir = join(dirname(createRequire(import.meta.url).resolve('@grpc/reflection')), '../proto/grpc/reflection');
const LOADER_OPTIONS = { longs: String, enums: String, bytes: Array, defaults: true, oneofs: true };
const SERVICES = ['kfrm.api.tabmenu.TabMenuService', 'grpc.health.v1.Health'];

type Reflection = (request: object) => Promise<unknown>;

/** One request on a fresh ServerReflectionInfo stream of `version` at `port`; its one answer. */
function reflectionClient(version: 'v1' | 'v1alpha', port: number): { call: Reflection; close(): void } {
  const definition = protoLoader.loadSync(join(reflectionProtoDir, version, 'reflection.proto'), LOADER_OPTIONS);
  const loaded = grpc.loadPackageDefinition(definition) as unknown as {
    grpc: { reflection: Record<typeof version, { ServerReflection: grpc.ServiceClientConstructor }> };
  };
  const { ServerReflection } = loaded.grpc.reflection[version];
  const client = new ServerReflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  return {
    call: (request) =>
      new Promise((resolve, reject) => {
        const stream = (client as unknown as { ServerReflectionInfo(): grpc.ClientDuplexStream<object, unknown> }).ServerReflectionInfo();
        stream.once('data', (answer) => {
          resolve(answer);
          stream.end();
        });
        stream.once('error', reject);
        stream.write(request);
      }),
    close: () => client.close(),
  };
}

async function serve(register: (server: grpc.Server) => void): Promise<{ server: grpc.Server; port: number }> {
  const server = new grpc.Server();
  register(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
  );
  return { server, port };
}

describe('lazy server reflection', () => {
  let eager: { server: grpc.Server; port: number };
  let lazy: { server: grpc.Server; port: number };
  let builds = 0;
  beforeAll(async () => {
    const descriptorSet = await readFile(descriptorSetPath);
    const build = () => {
      builds += 1;
      const packageDefinition = { contract: { fileDescriptorProtos: splitFileDescriptorSet(descriptorSet) } };
      return new ReflectionService(packageDefinition as never, { services: SERVICES });
    };
    eager = await serve((server) => build().addToServer(server));
    builds = 0;
    lazy = await serve((server) => addLazyReflection(server, build));
  });
  afterAll(() => {
    eager.server.forceShutdown();
    lazy.server.forceShutdown();
  });

  it('builds nothing until the first reflection call, then once for both versions', async () => {
    expect(builds).toBe(0);
    for (const version of ['v1', 'v1alpha'] as const) {
      const client = reflectionClient(version, lazy.port);
      await client.call({ listServices: '*' });
      client.close();
    }
    expect(builds).toBe(1);
  });

  it.each(['v1', 'v1alpha'] as const)('answers %s exactly as the ReflectionService registered directly', async (version) => {
    const requests = [
      { listServices: '*' },
      { fileContainingSymbol: 'grpc.health.v1.Health' },
      { fileContainingSymbol: 'kfrm.api.tabmenu.TabMenuService' },
      { fileContainingSymbol: 'no.such.Symbol' },
      { fileByFilename: 'grpc/health/v1/health.proto' },
      { allExtensionNumbersOfType: 'google.protobuf.FieldOptions' },
    ];
    const fromEager = reflectionClient(version, eager.port);
    const fromLazy = reflectionClient(version, lazy.port);
    try {
      const listed = (await fromLazy.call({ listServices: '*' })) as { listServicesResponse?: { service: { name: string }[] } };
      expect(listed.listServicesResponse?.service.map((s) => s.name).sort()).toEqual([...SERVICES].sort());
      for (const request of requests) expect(await fromLazy.call(request)).toEqual(await fromEager.call(request));
    } finally {
      fromEager.close();
      fromLazy.close();
    }
  });
});
