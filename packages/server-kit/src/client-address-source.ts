import { isIP } from 'node:net';
import type { Metadata } from '@grpc/grpc-js';

/**
 * Where a listener learns the caller's network address (CallContext.clientAddress, the key of
 * per-address limits on public methods). The mobile listener uses the TCP peer; the edge
 * listener's TCP peer is nginx, so there the phone's address comes from the header the edge sets.
 */
export type ClientAddressSource = (call: { metadata: Metadata; peerAddress: string }) => string;

/** The header the edge sets to the phone's address (`grpc_set_header ... $remote_addr`). */
export const FORWARDED_CLIENT_ADDRESS_HEADER = 'x-kfrm-client-address';

/** The mobile listener: the TCP peer, whatever headers the client sent. */
export const peerClientAddress: ClientAddressSource = (call) => call.peerAddress;

/**
 * The edge listener: the address the edge forwarded. Only the edge reaches this listener (its
 * client-certificate source refuses every other peer before the address is read), and the edge
 * overwrites any copy the phone sent. Without a valid single IP address the call is keyed by the
 * edge's own address: one shared budget, never a phone-chosen key.
 */
export const edgeForwardedClientAddress: ClientAddressSource = (call) => {
  const values = call.metadata.get(FORWARDED_CLIENT_ADDRESS_HEADER);
  const value = values.length === 1 && typeof values[0] === 'string' ? values[0].trim() : '';
  return isIP(value) ? value : call.peerAddress;
};
