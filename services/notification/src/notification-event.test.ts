import { Metadata } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '@kfrm/errors';
import { decodeEvent, encodeEvent, type NotificationEvent } from './notification-event';
import { lastEventIdOf } from './notification.handlers';

const event: NotificationEvent = {
  id: 18446744073709551615n,
  userId: '42',
  type: 'TRANSFER_SUCCEED',
  title: '이체 완료',
  content: '1,000원',
  createdAt: new Date('2026-11-24T01:02:03.000Z'),
};

describe('pub/sub events', () => {
  it('round-trips an event exactly, ids beyond 2^53 included', () => {
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
  });

  it('ignores anything that is not a well-formed event', () => {
    for (const bad of [
      '',
      'null',
      '[]',
      '{}',
      JSON.stringify({ ...JSON.parse(encodeEvent(event)), id: 1 }),
      JSON.stringify({ ...JSON.parse(encodeEvent(event)), id: '-1' }),
      JSON.stringify({ ...JSON.parse(encodeEvent(event)), type: 'OTHER' }),
    ]) {
      expect(decodeEvent(bad)).toBeUndefined();
    }
  });
});

describe('last-event-id', () => {
  const md = (...values: string[]) => {
    const m = new Metadata();
    for (const v of values) m.add('last-event-id', v);
    return m;
  };

  it('is absent (live only) or one unsigned 64-bit decimal', () => {
    expect(lastEventIdOf(new Metadata())).toBeUndefined();
    expect(lastEventIdOf(md('0'))).toBe(0n);
    expect(lastEventIdOf(md('18446744073709551615'))).toBe(18446744073709551615n);
  });

  it('refuses anything else with InvalidArgumentError', () => {
    for (const bad of [md('18446744073709551616'), md('1.5'), md('-1'), md(' 1'), md(''), md('1', '2')]) {
      expect(() => lastEventIdOf(bad)).toThrow(InvalidArgumentError);
    }
  });
});
