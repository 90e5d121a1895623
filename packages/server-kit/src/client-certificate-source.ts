import { X509Certificate } from 'node:crypto';
import type { Metadata } from '@grpc/grpc-js';
import { unauthenticated } from './access';

/**
 * Where a listener takes a call's client certificate from. The mobile listener takes the TLS
 * peer certificate; the edge listener takes the certificate the edge forwarded in a header,
 * after checking that the connection is the edge's. Whatever the source, the certificate then
 * goes through the same guard and device checks (chain, validity, revocation, cache).
 */
export type ClientCertificateSource = (call: ClientCertificateCall) => Uint8Array | undefined;

export interface ClientCertificateCall {
  metadata: Metadata;
  /** The TLS peer certificate, as Node reports it (raw DER and the subjectaltname string). */
  peer?: { raw?: Buffer; subjectaltname?: string };
}

/**
 * The headers the edges we support use for the phone's certificate: nginx
 * (`$ssl_client_escaped_cert`, URL-escaped PEM), Envoy (`x-forwarded-client-cert`, the `Cert`
 * element, URL-escaped PEM) and HAProxy (`%[ssl_c_der,base64]`, base64 DER).
 */
export const FORWARDED_CERTIFICATE_HEADERS = ['ssl-client-cert', 'x-forwarded-client-cert', 'x-ssl-client-der'] as const;

// Reasons name the header, never its contents: a certificate is personal data in a log.
const refused = (reason: string) => unauthenticated(`forwarded client certificate refused: ${reason}`);

type ForwardedHeader = (typeof FORWARDED_CERTIFICATE_HEADERS)[number];

function forwardedHeadersIn(metadata: Metadata): ForwardedHeader[] {
  return FORWARDED_CERTIFICATE_HEADERS.filter((name) => metadata.get(name).length > 0);
}

/**
 * The mobile listener: the TLS peer certificate, and nothing else. A forwarded-certificate
 * header here comes from someone pretending to be the edge: refused, never ignored, so a
 * misrouted edge shows up at once instead of silently authenticating as the wrong identity.
 */
export const peerClientCertificate: ClientCertificateSource = (call) => {
  const headers = forwardedHeadersIn(call.metadata);
  if (headers.length > 0) throw refused(`${headers.join(', ')} on a direct connection`);
  return call.peer?.raw ? new Uint8Array(call.peer.raw) : undefined;
};

/** Listeners that never look at client certificates (the internal one). */
export const noClientCertificate: ClientCertificateSource = () => undefined;

/**
 * The edge listener: the TLS layer already required a client certificate from the internal CA;
 * here it must also be the edge's (URI SAN `edgeIdentityUri`), not another service's. Then the
 * phone's certificate is read from exactly one forwarded header; none means the phone sent none.
 */
export function edgeForwardedClientCertificate(edgeIdentityUri: string): ClientCertificateSource {
  return (call) => {
    const names = (call.peer?.subjectaltname ?? '').split(', ');
    if (!names.includes(`URI:${edgeIdentityUri}`)) {
      const headers = forwardedHeadersIn(call.metadata);
      if (headers.length > 0) throw refused(`${headers.join(', ')} from a peer that is not the edge`);
      throw unauthenticated('only the edge may call this listener');
    }
    const headers = forwardedHeadersIn(call.metadata);
    if (headers.length === 0) return undefined;
    if (headers.length > 1) throw refused(`more than one header (${headers.join(', ')})`);
    const name = headers[0]!;
    const values = call.metadata.get(name);
    if (values.length !== 1 || typeof values[0] !== 'string') throw refused(`${name} repeated`);
    const der = parseForwardedCertificate(name, values[0]);
    if (!der) throw refused(`${name} is not one certificate`);
    return der;
  };
}

/** One certificate's DER from a forwarded header's value, or undefined when it is not exactly one. */
export function parseForwardedCertificate(header: ForwardedHeader, value: string): Uint8Array | undefined {
  switch (header) {
    case 'ssl-client-cert':
      return escapedPemToDer(value);
    case 'x-forwarded-client-cert': {
      const elements = splitOutsideQuotes(value, ',');
      // Several elements = several proxies each adding theirs: which one is the phone's is not ours to guess.
      if (elements.length !== 1) return undefined;
      const certs = splitOutsideQuotes(elements[0]!, ';')
        .map((pair) => /^\s*Cert=("?)(.*)\1\s*$/i.exec(pair))
        .filter((m) => m !== null);
      if (certs.length !== 1) return undefined;
      return escapedPemToDer(certs[0]![2]!);
    }
    case 'x-ssl-client-der': {
      // Also RFC 9440's `:base64:` byte-sequence form.
      const body = value.trim().replace(/^:(.*):$/, '$1');
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
      return oneCertificate(Buffer.from(body, 'base64'));
    }
  }
}

function escapedPemToDer(escaped: string): Uint8Array | undefined {
  let pem: string;
  try {
    pem = decodeURIComponent(escaped);
  } catch {
    return undefined;
  }
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length !== 1) return undefined;
  const body = blocks[0]!.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) return undefined;
  return oneCertificate(Buffer.from(body, 'base64'));
}

/** The DER if it parses as an X.509 certificate (chain, validity and revocation are the guard's). */
function oneCertificate(der: Buffer): Uint8Array | undefined {
  try {
    const parsed = new X509Certificate(der);
    return new Uint8Array(parsed.raw);
  } catch {
    return undefined;
  }
}

function splitOutsideQuotes(text: string, separator: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quoted = false;
  for (const char of text) {
    if (char === '"') quoted = !quoted;
    if (char === separator && !quoted) {
      parts.push(current);
      current = '';
    } else current += char;
  }
  parts.push(current);
  return parts.filter((p) => p.trim() !== '');
}
