/**
 * The optional observer (metrics) against the sandbox: one event per HTTP exchange, token
 * requests included, with a bounded outcome.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createKakaocertClient, type KakaocertCallObserver } from './kakaocert-client';
import { startKakaocertSandbox } from './sandbox/sandbox-server';
import { manualClock, validRequestCMS } from './testing/cms.fixtures';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setup() {
  const clock = manualClock();
  const sandbox = await startKakaocertSandbox({ clock: clock.now });
  cleanups.push(() => sandbox.close());
  const events: Parameters<KakaocertCallObserver>[0][] = [];
  const client = createKakaocertClient({
    linkId: sandbox.linkId,
    secretKey: sandbox.secretKey,
    serviceUrl: sandbox.url,
    authUrl: sandbox.authUrl,
    now: clock.now,
    retryDelayMs: 0,
    observer: (event) => events.push(event),
  });
  cleanups.push(() => client.close());
  return { sandbox, client, events, clientCode: sandbox.clientCode };
}

describe('kakaoCert call observer', () => {
  it('reports the token request and each exchange, retries included', async () => {
    const { sandbox, client, events, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.injectFault({ route: 'status', kind: 'http500' });
    await client.getCMSState(clientCode, receiptId);
    expect(events.map((e) => [e.operation, e.outcome])).toEqual([
      ['LinkhubToken', 'ok'],
      ['RequestCMS', 'ok'],
      ['GetCMSState', 'http_5xx'],
      ['GetCMSState', 'ok'],
    ]);
    for (const event of events) expect(event.seconds).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(events)).not.toContain(receiptId);
  });

  it('reports a lost answer by its transport failure', async () => {
    const { sandbox, client, events, clientCode } = await setup();
    const receiptId = await client.requestCMS(clientCode, validRequestCMS());
    sandbox.injectFault({ route: 'verify', kind: 'reset' });
    await expect(client.verifyCMS(clientCode, receiptId)).rejects.toThrow();
    expect(events.at(-1)).toMatchObject({ operation: 'VerifyCMS', outcome: 'network' });
  });
});
