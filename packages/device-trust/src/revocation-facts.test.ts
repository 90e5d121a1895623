import { describe, expect, it } from 'vitest';
import { createLogger } from '@kfrm/logging';
import { createMemoryStore } from '@kfrm/store';
import {
  encodeRevocationFact,
  listenToRevocationFacts,
  REVOCATION_FACTS_CHANNEL,
  type RevocationFact,
  withLocalRevocationFacts,
} from './revocation-facts';

const logger = createLogger({ service: 'test', level: 'silent' });
const until = async (check: () => boolean) => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
};

describe('listenToRevocationFacts', () => {
  it('hands over the facts published by anyone and ignores what is not one', async () => {
    const store = createMemoryStore();
    const heard: (RevocationFact | 'gap')[] = [];
    const listening = listenToRevocationFacts(store, (fact) => heard.push(fact), logger);
    await listening.ready;
    await store.publish(REVOCATION_FACTS_CHANNEL, 'not a fact');
    await store.publish(REVOCATION_FACTS_CHANNEL, encodeRevocationFact({ kind: 'device', deviceId: '7' }));
    await until(() => heard.length > 0);
    expect(heard).toEqual([{ kind: 'device', deviceId: '7' }]);
    await listening.stop();
    await store.publish(REVOCATION_FACTS_CHANNEL, encodeRevocationFact({ kind: 'device', deviceId: '8' }));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(heard).toHaveLength(1);
    await store.close();
  });

  it('keeps trying when the store is down at start, and reports a gap once subscribed', async () => {
    const store = createMemoryStore();
    let down = true;
    const flaky = Object.assign(Object.create(store) as typeof store, {
      subscribe: (...args: Parameters<typeof store.subscribe>) => (down ? Promise.reject(new Error('down')) : store.subscribe(...args)),
    });
    const heard: (RevocationFact | 'gap')[] = [];
    const listening = listenToRevocationFacts(flaky, (fact) => heard.push(fact), logger, 10);
    await listening.ready;
    down = false;
    await until(() => heard.length > 0);
    expect(heard).toEqual(['gap']);
    await store.publish(REVOCATION_FACTS_CHANNEL, encodeRevocationFact({ kind: 'sessions', userId: '1', deviceId: null }));
    await until(() => heard.length > 1);
    expect(heard[1]).toEqual({ kind: 'sessions', userId: '1', deviceId: null });
    await listening.stop();
    await store.close();
  });
});

describe('withLocalRevocationFacts', () => {
  it('hands a fact this process publishes over before publish resolves, then publishes it', async () => {
    const store = createMemoryStore();
    const local: (RevocationFact | 'gap')[] = [];
    const remote: string[] = [];
    await store.subscribe(REVOCATION_FACTS_CHANNEL, (m) => void remote.push(m));
    const wrapped = withLocalRevocationFacts(store, (fact) => local.push(fact));
    const publishing = wrapped.publish(REVOCATION_FACTS_CHANNEL, encodeRevocationFact({ kind: 'device', deviceId: '9' }));
    expect(local).toEqual([{ kind: 'device', deviceId: '9' }]);
    await publishing;
    await wrapped.publish('other', encodeRevocationFact({ kind: 'device', deviceId: '10' }));
    await until(() => remote.length > 0);
    expect(local).toHaveLength(1);
    expect(remote).toHaveLength(1);
    await wrapped.set('k', 'v', { ttlMs: 1000 });
    expect(await store.get('k')).toBe('v');
    await store.close();
  });
});
