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
  const provider = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: files.certFile,
    privateKeyFile: files.keyFile,
    caCertificateFile: files.clientCaFile,
    refreshIntervalMs,
  });
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, false);
}

/**
 * The internal listener is plaintext: in the embedded default it binds to loopback, in a
 * cluster it sits behind the mesh's mTLS and a NetworkPolicy (see deploy/).
 */
export function internalServerCredentials(): grpc.ServerCredentials {
  return grpc.ServerCredentials.createInsecure();
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
  const provider = new grpc.experimental.FileWatcherCertificateProvider({
    certificateFile: files.certFile,
    privateKeyFile: files.keyFile,
    caCertificateFile: files.clientCaFile,
    refreshIntervalMs,
  });
  return grpc.experimental.createCertificateProviderServerCredentials(provider, provider, true);
}
