import * as grpc from '@grpc/grpc-js';

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: Res) => void,
) => grpc.ClientUnaryCall;

export interface CallOptions {
  metadata?: Record<string, string>;
  deadlineMs?: number;
}

/** Promise form of a generated grpc-js unary method: `await unary(client, client.getKey, req)`. */
export function unary<C extends grpc.Client, Req, Res>(
  client: C,
  method: UnaryMethod<Req, Res>,
  request: Req,
  options: CallOptions = {},
): Promise<Res> {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  const callOptions: Partial<grpc.CallOptions> = { deadline: Date.now() + (options.deadlineMs ?? 15_000) };
  return new Promise((resolve, reject) =>
    method.call(client, request, metadata, callOptions, (err, response) => (err ? reject(err) : resolve(response))),
  );
}
