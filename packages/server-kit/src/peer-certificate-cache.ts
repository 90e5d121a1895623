import { type PeerCertificate, TLSSocket } from 'node:tls';

/**
 * grpc-js answers every call's `getAuthContext()` with a fresh `socket.getPeerCertificate()`,
 * which builds the whole certificate object (subject, issuer, fingerprints, key, DER) from
 * OpenSSL each time: ≈ 6 % of the CPU of a read at 64 clients. A connection's peer certificate
 * is fixed once its handshake is done as long as the connection cannot renegotiate, and HTTP/2
 * connections cannot (RFC 9113 §9.2.1; Node disables renegotiation on every HTTP/2 socket, and
 * TLS 1.3 has none). So for sockets that negotiated `h2`, the first answer is kept for the life of
 * the socket (a WeakMap: it goes with the socket). Every other socket, and the `detailed` form,
 * still asks OpenSSL every time.
 *
 * grpc-js exposes neither the socket nor a per-connection hook to a call, hence a wrapper on
 * the prototype, installed once per process by the listeners.
 */
let installed = false;

export function cachePeerCertificatesOfHttp2Connections(): void {
  if (installed) return;
  installed = true;
  const ask = TLSSocket.prototype.getPeerCertificate;
  const kept = new WeakMap<TLSSocket, PeerCertificate>();
  function getPeerCertificate(this: TLSSocket, detailed?: boolean) {
    if (detailed || this.alpnProtocol !== 'h2') return ask.call(this, detailed as true);
    const known = kept.get(this);
    if (known) return known;
    const certificate = ask.call(this, false);
    // Before the handshake (or without a client certificate) the answer is empty: not kept, so
    // the first call after the handshake reads the real one.
    if (certificate?.raw) kept.set(this, certificate);
    return certificate;
  }
  TLSSocket.prototype.getPeerCertificate = getPeerCertificate as typeof TLSSocket.prototype.getPeerCertificate;
}
