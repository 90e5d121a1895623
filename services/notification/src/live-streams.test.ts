import type { Logger } from '@kfrm/logging';
import type { Store } from '@kfrm/store';
import { describe, expect, it } from 'vitest';
import { type LiveStream, LiveStreams } from './live-streams';

/** A store whose SUBSCRIBE answers only when told to, or fails, as a busy Redis would. */
function subscribingStore() {
  const channels: string[] = [];
  const pending: { resolve: () => void; reject: (err: Error) => void }[] = [];
  const store = {
    subscribe(channel: string) {
      channels.push(channel);
      return new Promise((resolve, reject) => {
        pending.push({ resolve: () => resolve(async () => {}), reject });
      });
    },
  };
  return { store: store as unknown as Store, channels, pending };
}

const quietLogger = { warn() {}, info() {}, debug() {}, error() {}, child: () => quietLogger } as unknown as Logger;

function stream(userId: string): LiveStream {
  return { session: { userId, deviceId: 'd', sessionToken: 't' } } as unknown as LiveStream;
}

/** LiveStreams on two such stores, prepare() called: its first SUBSCRIBE (the facts channel) is pending. */
async function prepared() {
  const events = subscribingStore();
  const facts = subscribingStore();
  const streams = new LiveStreams(events.store, facts.store, async () => true, quietLogger, { recheckMs: 60_000 });
  streams.prepare();
  await Promise.resolve();
  return { events, facts, streams };
}

describe('LiveStreams shared subscriptions', () => {
  it('prepare() subscribes before any stream opens, so a burst of opens waits on no SUBSCRIBE of its own', async () => {
    const { events, facts, streams } = await prepared();
    expect(facts.channels).toHaveLength(1);
    facts.pending[0]!.resolve();
    await new Promise((r) => setImmediate(r));
    expect(events.channels).toHaveLength(1);
    events.pending[0]!.resolve();
    await new Promise((r) => setImmediate(r));
    // Ready: a thousand opens add themselves without another store call.
    await Promise.all(Array.from({ length: 1000 }, (_, i) => streams.add(stream(`u${i % 100}`))));
    expect(streams.size).toBe(1000);
    expect(facts.channels).toHaveLength(1);
    expect(events.channels).toHaveLength(1);
    await streams.close();
  });

  it('a failed prepare() is retried by the next stream', async () => {
    const { events, facts, streams } = await prepared();
    facts.pending[0]!.reject(new Error('Command timed out'));
    await new Promise((r) => setImmediate(r));
    const opening = streams.add(stream('u1'));
    await Promise.resolve();
    expect(facts.channels).toHaveLength(2);
    facts.pending[1]!.resolve();
    await new Promise((r) => setImmediate(r));
    events.pending[0]!.resolve();
    await opening;
    expect(streams.size).toBe(1);
    await streams.close();
  });
});
