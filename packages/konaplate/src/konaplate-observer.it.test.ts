/**
 * The optional observer (metrics) against the sandbox: one event per HTTP attempt, with a
 * bounded outcome, and nothing of the request in it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKonaplateClient, type KonaplateCallObserver } from './konaplate-client';
import { sandboxClientOptions, SANDBOX_HOLDERS, startKonaplateSandbox, type KonaplateSandbox } from './sandbox';

const HOLDER = SANDBOX_HOLDERS[0]!;

describe('Konaplate call observer', () => {
  let sandbox: KonaplateSandbox;
  beforeAll(async () => {
    sandbox = await startKonaplateSandbox({ port: 0 });
  });
  afterAll(() => sandbox.close());

  function observedClient() {
    const events: Parameters<KonaplateCallObserver>[0][] = [];
    const client = createKonaplateClient(
      sandboxClientOptions(sandbox, { inquiryRetry: { baseDelayMs: 1, maxDelayMs: 2 }, observer: (event) => events.push(event) }),
    );
    return { client, events };
  }

  it('reports a verification as one ok attempt', async () => {
    const { client, events } = observedClient();
    await client.verifyAccountHolder({
      userId: '1000000001',
      userName: HOLDER.holderName,
      birthDate: HOLDER.birthDate,
      bankCode: HOLDER.bankCode,
      bankAccount: HOLDER.bankAccount,
    });
    expect(events).toEqual([{ operation: 'verifyAccountHolder', outcome: 'ok', seconds: expect.any(Number) }]);
    expect(JSON.stringify(events)).not.toContain(HOLDER.bankAccount);
  });

  it('reports each retried attempt with its outcome', async () => {
    const { client, events } = observedClient();
    sandbox.injectFault({ type: 'status', status: 503 }, { endpoint: 'inquireBankAccounts', times: 1 });
    await client.inquireBankAccounts({ userId: '1000000001' });
    expect(events.map((e) => [e.operation, e.outcome])).toEqual([
      ['inquireBankAccounts', 'server_error'],
      ['inquireBankAccounts', 'ok'],
    ]);
  });

  it('a throwing observer does not fail the call', async () => {
    const client = createKonaplateClient(
      sandboxClientOptions(sandbox, {
        observer: () => {
          throw new Error('metrics broke');
        },
      }),
    );
    await expect(client.inquireBankAccounts({ userId: '1000000002' })).resolves.toMatchObject({ isAutoRcgAccRegAllowed: false });
  });
});
