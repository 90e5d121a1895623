import * as grpc from '@grpc/grpc-js';

export interface MobileTlsFiles {
  certFile: string;
  keyFile: string;
  /** The device CA: client certificates are requested against it. */
  clientCaFile: string;
}

/**
 * TLS for the mobile listener: the client certificate is *requested* (so a phone with one sends
 * it) but not *required* at the TLS layer, because public methods such as CreateDevice must work
 * without one; the access guard then checks chain, validity and revocation per method.
 *
 * Why not `ServerCredentials.createSsl(ca, pairs, true)`: it refuses every connection without a
 * client certificate, and with `false` it does not even request one. The file-watcher provider
 * also picks up renewed certificates without a restart. (grpc-js's factory takes the identity
 * provider first whatever its typings say; one provider serves both here, so order is moot.)
 */
export function mobileServerCredentials(files: MobileTlsFiles, refreshIntervalMs = 5 * 60_000): grpc.ServerCredentials {
  return watchedCredentials({ certFile: files.certFile, keyFile: files.keyFile, caFile: files.clientCaFile }, false, refreshIntervalMs);
}

/** First load of each provider-backed credentials, awaited by `credentialsLoaded`. */
const firstLoads = new WeakMap<grpc.ServerCredentials, () => Promise<void>>();

function watchedCredentials(
  files: { certFile: string; keyFile: string; caFile: string },
  requireClientCertificate: boolean,
  refreshIntervalMs: number,
): grpc.ServerCredentials {
  const provider = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: files.certFile,
    privateKeyFile: files.keyFile,
    caCertificateFile: files.caFile,
    refreshIntervalMs,
  });
  const credentials = grpc.experimental.createCertificateProviderServerCredentials(provider, provider, requireClientCertificate);
  firstLoads.set(credentials, () => firstLoad(provider, files));
  return credentials;
}

type Update = object | null | undefined;

function firstLoad(
  provider: grpc.experimental.FileWatcherCertificateProvider,
  files: { certFile: string; keyFile: string; caFile: string },
) {
  return new Promise<void>((resolve, reject) => {
    let identity: Update;
    let ca: Update;
    const settle = () => {
      if (identity === undefined || ca === undefined) return;
      provider.removeIdentityCertificateListener(onIdentity);
      provider.removeCaCertificateListener(onCa);
      if (identity === null) reject(new Error(`cannot read the TLS certificate ${files.certFile} or its key ${files.keyFile}`));
      else if (ca === null) reject(new Error(`cannot read the CA certificate ${files.caFile}`));
      else resolve();
    };
    const onIdentity = (update: Update) => {
      identity = update;
      settle();
    };
    const onCa = (update: Update) => {
      ca = update;
      settle();
    };
    provider.addIdentityCertificateListener(onIdentity as never);
    provider.addCaCertificateListener(onCa as never);
  });
}

/**
 * Resolves once a bound server with these credentials can complete a TLS handshake. grpc-js
 * reads the provider's files asynchronously after bind and, until then, drops every incoming
 * connection; a listener reported started (and a health check answered, an edge connecting)
 * before that would see resets. Rejects, naming the file, when one cannot be read: a server
 * that would drop every connection must not start. Resolves at once for other credentials.
 * Call it after bind (the server's own listeners keep the provider watching).
 */
export function credentialsLoaded(credentials: grpc.ServerCredentials): Promise<void> {
  return firstLoads.get(credentials)?.() ?? Promise.resolve();
}

export interface InternalTlsFiles {
  /** This service's internal certificate and key (from the internal CA). */
  certFile: string;
  keyFile: string;
  /** The internal CA: the only issuer of client certificates that identify a service. */
  clientCaFile: string;
}

/**
 * The internal listener. With this service's internal certificate: TLS, a client certificate is
 * *requested* and verified against the internal CA, but not *required* — an operator's tool
 * connects with TLS and a bearer token, without one. grpc-js reports a peer certificate to the
 * handler only when the TLS layer verified it (`socket.authorized`), so a certificate from
 * another CA is no identity at all and the guard sees an unknown caller. Without files
 * (the embedded default): plaintext on loopback, where only in-process calls carry a service's
 * identity (docs/adr/0014-service-identity.md).
 */
export function internalServerCredentials(files?: InternalTlsFiles, refreshIntervalMs = 5 * 60_000): grpc.ServerCredentials {
  if (!files) return grpc.ServerCredentials.createInsecure();
  return watchedCredentials({ certFile: files.certFile, keyFile: files.keyFile, caFile: files.clientCaFile }, false, refreshIntervalMs);
}

export interface EdgeTlsFiles {
  /** This service's internal certificate and key (from the internal CA). */
  certFile: string;
  keyFile: string;
  /** The internal CA: the only issuer whose client certificates this listener accepts. */
  clientCaFile: string;
}

/**
 * TLS for the edge listener: mutual, and *required* at the TLS layer — only holders of an
 * internal-CA certificate connect at all; which of them is the edge is checked per call
 * (`edgeForwardedClientCertificate`). Files are watched like the mobile listener's.
 */
export function edgeServerCredentials(files: EdgeTlsFiles, refreshIntervalMs = 5 * 60_000): grpc.ServerCredentials {
  return watchedCredentials({ certFile: files.certFile, keyFile: files.keyFile, caFile: files.clientCaFile }, true, refreshIntervalMs);
}
