/**
 * `@kfrm/runtime/testing/service-identity.fixtures`: an internal PKI for tests that call an
 * internal listener over the network as a service (with that service's certificate) or as an
 * operator's tool (TLS without a client certificate). Not for production code.
 */
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { ensureDevInternalPki } from '@kfrm/pki';
import type { ClientConstructor, InternalClients } from '../internal-clients';

/** The process the listener runs as (its own certificate); tests call it as the services they play. */
const LISTENER_IDENTITY = 'backend';

export interface TestServiceIdentity {
  /** For startServices / startTestServices: the internal listener's mTLS (and its clients'). */
  env: Record<string, string>;
  /** For a GrpcListener of the test's own: `internalServerCredentials(identity.listenerFiles)`. */
  listenerFiles: { certFile: string; keyFile: string; clientCaFile: string };
  /** PEM of the internal CA (what a client trusts to reach the internal listener). */
  caPem: Buffer;
  /** mTLS with `service`'s certificate: calls the listener sees as made by that service. */
  as(service: string): grpc.ChannelCredentials;
  /** TLS without a client certificate: an operator's tool (with a token) or an unknown caller. */
  anonymous(): grpc.ChannelCredentials;
  /** A service's certificate and key files (e.g. to present them to another PKI's listener). */
  files(service: string): { certFile: string; keyFile: string };
}

/** A dev internal PKI in `dir` (a temp directory of the test's) with certificates for `services`. */
export async function testServiceIdentity(dir: string, services: readonly string[]): Promise<TestServiceIdentity> {
  const pki = await ensureDevInternalPki(dir, [...new Set([LISTENER_IDENTITY, ...services])]);
  const caPem = readFileSync(pki.internalCaCertFile);
  const files = (service: string) => {
    const pair = pki.services[service];
    if (!pair) throw new Error(`no test certificate for ${service}: pass it to testServiceIdentity`);
    return pair;
  };
  const own = files(LISTENER_IDENTITY);
  return {
    env: {
      KFRM_INTERNAL_TLS_CERT_FILE: own.certFile,
      KFRM_INTERNAL_TLS_KEY_FILE: own.keyFile,
      KFRM_INTERNAL_CA_CERT_FILE: pki.internalCaCertFile,
    },
    listenerFiles: { certFile: own.certFile, keyFile: own.keyFile, clientCaFile: pki.internalCaCertFile },
    caPem,
    as: (service) => grpc.credentials.createSsl(caPem, readFileSync(files(service).keyFile), readFileSync(files(service).certFile)),
    anonymous: () => grpc.credentials.createSsl(caPem),
    files,
  };
}

/**
 * A client whose calls each go in the name of a service that really calls that method (tests
 * that set up data through many methods of one API, e.g. the ledger's): `callers` maps a method
 * to the service to call it as, `fallback` names the one for the rest. In-process, through
 * `running.internalClientsOf`.
 */
export function clientAsCallers<C extends grpc.Client>(
  clientsOf: (service: string) => InternalClients,
  ctor: ClientConstructor<C>,
  callers: Partial<Record<keyof C & string, string>>,
  fallback: string,
): C {
  return new Proxy({} as C, {
    get(_target, property) {
      const service = (typeof property === 'string' ? callers[property as keyof C & string] : undefined) ?? fallback;
      const client = clientsOf(service).get(ctor);
      const value = (client as unknown as Record<string | symbol, unknown>)[property];
      return typeof value === 'function' ? value.bind(client) : value;
    },
  });
}
