import type * as grpc from '@grpc/grpc-js';
import type { ReflectionService } from '@grpc/reflection';

/**
 * The methods ReflectionService.addToServer registers (@grpc/reflection 1.x: v1 and v1alpha, one
 * bidi-streaming method each, same messages).
 */
export const REFLECTION_METHOD_PATHS = [
  '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
  '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo',
] as const;

interface ReflectionMethod {
  definition: grpc.MethodDefinition<unknown, unknown>;
  handler: grpc.handleBidiStreamingCall<unknown, unknown>;
}

/**
 * Serves server reflection from a ReflectionService built on the first reflection call instead of
 * now. Building one decodes and indexes every file of the contract's descriptor set twice (v1 and
 * v1alpha) and loads reflection.proto twice through proto-loader: about 0.1 s of CPU per listener
 * that every start paid before its first health answer, for a service only developers' tools
 * (buf curl, grpcurl) ever call.
 *
 * The two methods are registered now with their fixed paths and streaming kinds; their
 * (de)serializers and handlers are the library's own, taken on first use from what the built
 * ReflectionService registers on a stand-in server (ReflectionService.addToServer only calls
 * addService), so the answers are exactly those of `new ReflectionService(...).addToServer(server)`.
 */
export function addLazyReflection(server: Pick<grpc.Server, 'addService'>, build: () => ReflectionService): void {
  let methods: Map<string, ReflectionMethod> | undefined;
  const method = (path: string): ReflectionMethod => {
    if (methods === undefined) {
      const registered = new Map<string, ReflectionMethod>();
      build().addToServer({
        addService(service: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation) {
          for (const [name, definition] of Object.entries(service)) {
            const handler = implementation[name] ?? (definition.originalName ? implementation[definition.originalName] : undefined);
            if (!handler || !definition.requestStream || !definition.responseStream) {
              throw new Error(`server reflection: ${definition.path} is not the bidi-streaming method expected`);
            }
            // Checked just above: a bidi-streaming method's handler takes the duplex stream.
            registered.set(definition.path, { definition, handler: handler as grpc.handleBidiStreamingCall<unknown, unknown> });
          }
        },
      });
      methods = registered;
    }
    const found = methods.get(path);
    if (!found) throw new Error(`server reflection: the library no longer serves ${path}`);
    return found;
  };
  for (const path of REFLECTION_METHOD_PATHS) {
    const definition: grpc.MethodDefinition<unknown, unknown> = {
      path,
      requestStream: true,
      responseStream: true,
      requestSerialize: (value) => method(path).definition.requestSerialize(value),
      requestDeserialize: (bytes) => method(path).definition.requestDeserialize(bytes),
      responseSerialize: (value) => method(path).definition.responseSerialize(value),
      responseDeserialize: (bytes) => method(path).definition.responseDeserialize(bytes),
      originalName: 'serverReflectionInfo',
    };
    server.addService(
      { ServerReflectionInfo: definition },
      {
        ServerReflectionInfo: (call: grpc.ServerDuplexStream<unknown, unknown>) => method(path).handler(call),
      },
    );
  }
}
