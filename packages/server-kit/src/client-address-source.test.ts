import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { edgeForwardedClientAddress, FORWARDED_CLIENT_ADDRESS_HEADER, peerClientAddress } from './client-address-source';
import { addressWithoutPort } from './grpc-listener';

function metadataWith(...values: string[]): Metadata {
  const metadata = new Metadata();
  for (const value of values) metadata.add(FORWARDED_CLIENT_ADDRESS_HEADER, value);
  return metadata;
}

describe('addressWithoutPort', () => {
  it('drops the port of IPv4 and bracketed IPv6 peers and keeps anything else whole', () => {
    expect(addressWithoutPort('203.0.113.7:51234')).toBe('203.0.113.7');
    expect(addressWithoutPort('[::1]:443')).toBe('::1');
    expect(addressWithoutPort('[2001:db8::5]:60000')).toBe('2001:db8::5');
    expect(addressWithoutPort('/run/kfrm.sock')).toBe('/run/kfrm.sock');
  });
});

describe('client address sources', () => {
  it('the mobile listener ignores a forwarded address the phone sent itself', () => {
    expect(peerClientAddress({ metadata: metadataWith('198.51.100.9'), peerAddress: '203.0.113.7' })).toBe('203.0.113.7');
  });

  it('the edge listener takes the address the edge forwarded', () => {
    expect(edgeForwardedClientAddress({ metadata: metadataWith('198.51.100.9'), peerAddress: '10.0.0.2' })).toBe('198.51.100.9');
    expect(edgeForwardedClientAddress({ metadata: metadataWith('2001:db8::5'), peerAddress: '10.0.0.2' })).toBe('2001:db8::5');
  });

  it('the edge listener falls back to the edge address when the header is missing, repeated or not an IP', () => {
    for (const metadata of [metadataWith(), metadataWith('a', 'b'), metadataWith('1.2.3.4', '5.6.7.8'), metadataWith('not-an-ip')]) {
      expect(edgeForwardedClientAddress({ metadata, peerAddress: '10.0.0.2' })).toBe('10.0.0.2');
    }
  });
});
