import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { DomainError } from '@kfrm/errors';
import { ensureDevCertificates } from '@kfrm/pki';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { edgeForwardedClientCertificate, parseForwardedCertificate, peerClientCertificate } from './client-certificate-source';

const EDGE = 'spiffe://kfrm/edge';

async function somePem(): Promise<{ pem: string; der: Buffer }> {
  const dir = await mkdtemp(join(tmpdir(), 'kfrm-forwarded-'));
  try {
    const files = await ensureDevCertificates(dir);
    const pem = await readFile(files.serverCertFile, 'utf8');
    return { pem, der: new X509Certificate(pem).raw };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const metadataWith = (headers: Record<string, string>) => {
  const metadata = new grpc.Metadata();
  for (const [name, value] of Object.entries(headers)) metadata.set(name, value);
  return metadata;
};

describe('forwarded client certificates', () => {
  it('reads each edge format, including an Envoy element with quoted commas and RFC 9440 colons', async () => {
    const { pem, der } = await somePem();
    expect(Buffer.from(parseForwardedCertificate('ssl-client-cert', encodeURIComponent(pem))!)).toEqual(der);
    const xfcc = `By=spiffe://kfrm/svc;Hash=0a1b;Subject="CN=phone,O=KFRM";Cert="${encodeURIComponent(pem)}";URI=`;
    expect(Buffer.from(parseForwardedCertificate('x-forwarded-client-cert', xfcc)!)).toEqual(der);
    expect(Buffer.from(parseForwardedCertificate('x-ssl-client-der', `:${der.toString('base64')}:`)!)).toEqual(der);
  });

  it('refuses what is not exactly one certificate', async () => {
    const { pem, der } = await somePem();
    expect(parseForwardedCertificate('ssl-client-cert', '%E0%A4%A')).toBeUndefined(); // bad escape
    expect(parseForwardedCertificate('ssl-client-cert', encodeURIComponent(pem + pem))).toBeUndefined();
    expect(
      parseForwardedCertificate('x-forwarded-client-cert', `Cert="${encodeURIComponent(pem)}";Cert="${encodeURIComponent(pem)}"`),
    ).toBeUndefined();
    expect(parseForwardedCertificate('x-ssl-client-der', der.subarray(0, 40).toString('base64'))).toBeUndefined();
    expect(parseForwardedCertificate('x-ssl-client-der', 'not base64!')).toBeUndefined();
  });

  it('takes a header only from the edge, and never on a direct connection', async () => {
    const { pem } = await somePem();
    const header = { 'ssl-client-cert': encodeURIComponent(pem) };
    const fromEdge = edgeForwardedClientCertificate(EDGE);
    expect(fromEdge({ metadata: metadataWith(header), peer: { subjectaltname: `DNS:edge, URI:${EDGE}` } })).toBeInstanceOf(Uint8Array);
    expect(fromEdge({ metadata: metadataWith({}), peer: { subjectaltname: `URI:${EDGE}` } })).toBeUndefined();
    // A SAN that merely contains the edge's URI is not the edge's.
    expect(() => fromEdge({ metadata: metadataWith(header), peer: { subjectaltname: `URI:${EDGE}x` } })).toThrow(DomainError);
    expect(() => fromEdge({ metadata: metadataWith(header), peer: undefined })).toThrow(DomainError);
    expect(() => peerClientCertificate({ metadata: metadataWith(header), peer: { raw: Buffer.from([1]) } })).toThrow(/direct connection/);
    expect(peerClientCertificate({ metadata: metadataWith({}), peer: { raw: Buffer.from([1]) } })).toEqual(new Uint8Array([1]));
  });
});
