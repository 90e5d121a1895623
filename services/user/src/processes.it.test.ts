import { webcrypto } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCsr, createSigningCa, issueSigningCertificate, parseSigningCsr, signData } from '@kfrm/pki';
import { DEFAULT_TTLS } from './deps';
import { createProcesses, MAX_POLICY_CACHE_MS, processRevision } from './processes';
import { activatedUser, codeOf, countingDeps, newIdentity, openHarness, withdrawnUser, type Harness } from './testing/user.harness';

let h: Harness;

beforeAll(async () => {
  h = await openHarness();
});

afterAll(async () => {
  await h?.close();
});

const transfer = (major: number | string) =>
  JSON.stringify({ amount: { currency_code: 'KRW', major_amount: String(major), minor_amount: '0' }, to: '110-123-456789' });

describe('createProcess picks the seeded policy', () => {
  it.each([
    ['LOGIN', '{}', [['PIN', 'PATTERN']]],
    ['LOGIN', '', [['PIN', 'PATTERN']]],
    ['LOGIN', '{"biometric_enabled":true}', [['BIO', 'PIN']]],
    ['ACTIVATE_BIOMETRIC', '{}', [['PIN', 'NONE']]],
    ['DEACTIVATE_BIOMETRIC', '{}', [['PIN', 'NONE']]],
    ['CHANGE_DEVICE', '{}', [['PIN', 'NONE']]],
    ['REINSTALL_APP', '{}', [['PIN', 'NONE']]],
    ['REISSUE_SIGNING_CERTIFICATE', '{"device_id":"7"}', [['PIN', 'NONE']]],
    [
      'TRANSFER',
      transfer(1_000_000),
      [
        ['PIN', 'NONE'],
        ['BIO', 'NONE'],
      ],
    ],
    [
      'TRANSFER',
      transfer(50_000_000),
      [
        ['PIN', 'NONE'],
        ['BIO', 'NONE'],
      ],
    ],
    ['TRANSFER', transfer(999_999), [['BIO', 'PIN']]],
    ['TRANSFER', transfer(0), [['BIO', 'PIN']]],
  ] as const)('%s %s', async (type, context, expected) => {
    const { user } = await activatedUser(h);
    const process = await h.processes.createProcess({ userId: user.id, transactionType: type, transactionContext: context });
    expect(process.status).toBe('READY');
    expect(process.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(process.authentications.map((a) => [a.type, a.fallback])).toEqual(expected);
    expect(process.expiresAt.getTime() - process.createdAt.getTime()).toBe(DEFAULT_TTLS.processTtlMs);
  });

  it('AUTHENTICATION_POLICY_NOT_FOUND when no policy holds (a transfer without a usable amount)', async () => {
    const { user } = await activatedUser(h);
    expect(await codeOf(h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: '{}' }))).toBe(
      'AUTHENTICATION_POLICY_NOT_FOUND',
    );
    expect(
      await codeOf(h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(-5) })),
    ).toBe('AUTHENTICATION_POLICY_NOT_FOUND');
  });

  it('EMPTY_AUTHENTICATION_PROCESS when the policy lists no factor', async () => {
    const { user } = await activatedUser(h);
    await h.db
      .insertInto('authentication_policies')
      .values({
        transaction_type: 'LOGIN',
        priority: 5,
        condition: JSON.stringify({ path: 'test_empty', op: 'exists' }),
        authentications: '[]',
        description: 'test',
      })
      .execute();
    h.processes.forgetPolicies();
    expect(
      await codeOf(h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{"test_empty":1}' })),
    ).toBe('EMPTY_AUTHENTICATION_PROCESS');
  });

  it('refuses a context that is not a JSON object of at most 4 KiB', async () => {
    const { user } = await activatedUser(h);
    for (const context of ['not json', '[1]', JSON.stringify({ pad: 'x'.repeat(4096) })]) {
      expect(await codeOf(h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: context }))).toMatch(
        /^InvalidArgumentError/,
      );
    }
  });
});

describe('createProcess costs one statement', () => {
  it('policies from memory, the process in one INSERT … SELECT, no transaction', async () => {
    const { user } = await activatedUser(h);
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    await processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(10_000) });
    counting.statements.length = 0;
    const p = await processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(2_000_000) });
    expect(counting.statements).toEqual(['RawNode']);
    expect(p.authentications.map((a) => [a.type, a.status])).toEqual([
      ['PIN', 'READY'],
      ['BIO', 'READY'],
    ]);
    const { userName, ...stored } = p;
    expect(await h.processes.getRunningProcess({ processId: p.id, userId: user.id })).toEqual(stored);
    expect(userName).toBe('홍길동');
  });

  it('an unknown user is still INVALID_ARGUMENT, also where no policy applies', async () => {
    for (const context of [transfer(10_000), '{}']) {
      expect(
        await codeOf(h.processes.createProcess({ userId: 987_654_321n, transactionType: 'TRANSFER', transactionContext: context })),
      ).toMatch(/^InvalidArgumentError/);
    }
    expect(await h.db.selectFrom('processes').select('id').where('user_id', '=', '987654321').execute()).toEqual([]);
  });
});

describe('cached policies', () => {
  const probe = '{"cache_probe":1}';
  const factors = (p: { authentications: { type: string; fallback: string }[] }) => p.authentications.map((a) => [a.type, a.fallback]);

  it(`a new policy is used at most ${MAX_POLICY_CACHE_MS / 1000} s later (at once after forgetPolicies or with policyCacheMs 0)`, async () => {
    const { user } = await activatedUser(h);
    const cached = createProcesses(h.deps);
    const uncached = createProcesses({ ...h.deps, policyCacheMs: 0 });
    const create = (processes: typeof cached) =>
      processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: probe });
    expect(factors(await create(cached))).toEqual([['PIN', 'PATTERN']]);
    const [added] = await h.db
      .insertInto('authentication_policies')
      .values({
        transaction_type: 'LOGIN',
        priority: 3,
        condition: JSON.stringify({ path: 'cache_probe', op: 'exists' }),
        authentications: JSON.stringify([{ type: 'PATTERN' }]),
        description: 'test: cache probe',
      })
      .returning('id')
      .execute();
    try {
      expect(factors(await create(cached))).toEqual([['PIN', 'PATTERN']]);
      expect(factors(await create(uncached))).toEqual([['PATTERN', 'NONE']]);
      cached.forgetPolicies();
      expect(factors(await create(cached))).toEqual([['PATTERN', 'NONE']]);

      // A cached policy that was changed or disabled since is never applied: the insert checks it.
      await h.db
        .updateTable('authentication_policies')
        .set({ authentications: JSON.stringify([{ type: 'PIN' }]) })
        .where('id', '=', added!.id)
        .execute();
      expect(factors(await create(cached))).toEqual([['PIN', 'NONE']]);
      await h.db.updateTable('authentication_policies').set({ enabled: false }).where('id', '=', added!.id).execute();
      expect(factors(await create(cached))).toEqual([['PIN', 'PATTERN']]);
    } finally {
      await h.db.updateTable('authentication_policies').set({ enabled: false }).where('id', '=', added!.id).execute();
    }
  });

  it('expires after policyCacheMs', async () => {
    const { user } = await activatedUser(h);
    const processes = createProcesses({ ...h.deps, policyCacheMs: 50 });
    const counting = countingDeps(h.deps);
    const counted = createProcesses({ ...counting.deps, policyCacheMs: 50 });
    const create = () => counted.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
    await processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
    await create();
    counting.statements.length = 0;
    await create();
    expect(counting.statements).toEqual(['RawNode']);
    await new Promise((resolve) => setTimeout(resolve, 60));
    await create();
    expect(counting.statements).toEqual(['RawNode', 'SelectQueryNode', 'RawNode']);
  });
});

describe('a running process as this instance wrote it last (issue 17, ADR 0020)', () => {
  it("GetRunningProcess after the creation and after a step is no statement; a DONE, expired or other user's process is not answered from memory", async () => {
    const { user } = await activatedUser(h);
    const other = (await activatedUser(h)).user.id;
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    const p = await processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(2_000_000) });
    counting.statements.length = 0;
    const running = await processes.getRunningProcess({ processId: p.id, userId: user.id });
    expect(counting.statements).toEqual([]);
    expect(running).toMatchObject({ id: p.id, status: 'READY' });
    expect(processRevision(running)).toBe(processRevision(await h.processes.getRunningProcess({ processId: p.id, userId: user.id })));
    // Another user's id is never answered from memory: read, and not found, as before.
    expect(await codeOf(processes.getRunningProcess({ processId: p.id, userId: other }))).toBe('RUNNING_PROCESS_NOT_FOUND');
    expect(counting.statements).toEqual(['SelectQueryNode']);

    await processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN', revision: processRevision(running) });
    counting.statements.length = 0;
    const afterPin = await processes.getRunningProcess({ processId: p.id, userId: user.id });
    expect(counting.statements).toEqual([]);
    expect(afterPin.authentications.map((a) => a.status)).toEqual(['DONE', 'READY']);
    await processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'BIO', revision: processRevision(afterPin) });
    // DONE: forgotten, read, and not running.
    counting.statements.length = 0;
    expect(await codeOf(processes.getRunningProcess({ processId: p.id, userId: user.id }))).toBe('RUNNING_PROCESS_NOT_FOUND');
    expect(counting.statements).toEqual(['SelectQueryNode']);

    const later = await processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
    h.clock.advance(h.deps.processTtlMs + 1);
    try {
      counting.statements.length = 0;
      expect(await codeOf(processes.getRunningProcess({ processId: later.id, userId: user.id }))).toBe('RUNNING_PROCESS_NOT_FOUND');
      expect(counting.statements).toEqual([]);
    } finally {
      h.clock.advance(-(h.deps.processTtlMs + 1));
    }
  });

  it('a copy that another instance moved past is caught by the compare-and-set: the step is decided on the stored process, once', async () => {
    const { user } = await activatedUser(h);
    const here = createProcesses(h.deps);
    const elsewhere = createProcesses(h.deps);
    const p = await here.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(2_000_000) });
    const fromElsewhere = await elsewhere.getRunningProcess({ processId: p.id, userId: user.id });
    await elsewhere.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN', revision: processRevision(fromElsewhere) });
    // Here still remembers both steps READY (what the database said a moment ago)…
    const stale = await here.getRunningProcess({ processId: p.id, userId: user.id });
    expect(stale.authentications.map((a) => a.status)).toEqual(['READY', 'READY']);
    // …and a second PIN from that copy is refused on the stored process, not applied twice.
    expect(
      await codeOf(here.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN', revision: processRevision(stale) })),
    ).toBe('AUTHENTICATION_TYPE_NOT_DEFINED');
    // Forgotten after the refusal: the next answer is the stored one.
    expect((await here.getRunningProcess({ processId: p.id, userId: user.id })).authentications.map((a) => a.status)).toEqual([
      'DONE',
      'READY',
    ]);
    const done = await here.completeAuthentication({ processId: p.id, userId: user.id, type: 'BIO', revision: processRevision(stale) });
    expect(done.status).toBe('DONE');
    expect(done.authentications.map((a) => a.done_with)).toEqual(['PIN', 'BIO']);
  });

  it('remembers none with runningProcessesMemory 0, and at most as many as it is given', async () => {
    const { user } = await activatedUser(h);
    const counting = countingDeps(h.deps);
    const none = createProcesses({ ...counting.deps, runningProcessesMemory: 0 });
    const p = await none.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
    counting.statements.length = 0;
    await none.getRunningProcess({ processId: p.id, userId: user.id });
    expect(counting.statements).toEqual(['SelectQueryNode']);

    const two = createProcesses({ ...counting.deps, runningProcessesMemory: 2 });
    const made = [];
    for (let i = 0; i < 3; i++) made.push(await two.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' }));
    counting.statements.length = 0;
    for (const q of made) await two.getRunningProcess({ processId: q.id, userId: user.id });
    // The oldest was let go of: one read.
    expect(counting.statements).toEqual(['SelectQueryNode']);
  });
});

describe('completing a process', () => {
  it('with the revision GetRunningProcess gave: one UPDATE, no transaction', async () => {
    const { user } = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(2_000_000) });
    const running = await h.processes.getRunningProcess({ processId: p.id, userId: user.id });
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    const afterPin = await processes.completeAuthentication({
      processId: p.id,
      userId: user.id,
      type: 'PIN',
      revision: processRevision(running),
    });
    expect(counting.statements).toEqual(['UpdateQueryNode']);
    expect(afterPin.status).toBe('IN_PROGRESS');
    expect(afterPin.authentications.map((a) => a.status)).toEqual(['DONE', 'READY']);

    // A stale revision (before the PIN step) costs a read, and the answer is the same.
    counting.statements.length = 0;
    const done = await processes.completeAuthentication({
      processId: p.id,
      userId: user.id,
      type: 'BIO',
      revision: processRevision(running),
    });
    expect(done.status).toBe('DONE');
    expect(counting.statements).toEqual(['UpdateQueryNode', 'SelectQueryNode', 'UpdateQueryNode']);
    expect(
      await codeOf(processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'BIO', revision: processRevision(done) })),
    ).toBe('RUNNING_PROCESS_NOT_FOUND');
  });

  it('without a revision: a read and an UPDATE, no transaction', async () => {
    const { user } = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
    const counting = countingDeps(h.deps);
    const done = await createProcesses(counting.deps).completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN' });
    expect(done.status).toBe('DONE');
    expect(counting.statements).toEqual(['SelectQueryNode', 'UpdateQueryNode']);
  });

  it('completions made at once share statements (ADR 0027); each gets its own outcome, and two steps of one process apply one after the other', async () => {
    const logins = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const { user } = await activatedUser(h);
        const p = await h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
        return { user, p, revision: processRevision(await h.processes.getRunningProcess({ processId: p.id, userId: user.id })) };
      }),
    );
    const { user: payer } = await activatedUser(h);
    const twoSteps = await h.processes.createProcess({
      userId: payer.id,
      transactionType: 'TRANSFER',
      transactionContext: transfer(2_000_000),
    });
    const twoStepsRevision = processRevision(await h.processes.getRunningProcess({ processId: twoSteps.id, userId: payer.id }));
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    const outcomes = await Promise.all([
      ...logins.map(({ user, p, revision }) =>
        processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN', revision }),
      ),
      // Both from the same revision: the second compares with what the first left, is refused, reads and applies.
      processes.completeAuthentication({ processId: twoSteps.id, userId: payer.id, type: 'PIN', revision: twoStepsRevision }),
      processes.completeAuthentication({ processId: twoSteps.id, userId: payer.id, type: 'BIO', revision: twoStepsRevision }),
      // Another user's process: not found, whatever it shares a statement with.
      codeOf(
        processes.completeAuthentication({ processId: logins[0]!.p.id, userId: payer.id, type: 'PIN', revision: logins[0]!.revision }),
      ),
    ]);
    expect(outcomes.slice(0, 5).map((o) => typeof o === 'object' && [o.id, o.status])).toEqual(logins.map(({ p }) => [p.id, 'DONE']));
    expect(outcomes[7]).toBe('RUNNING_PROCESS_NOT_FOUND');
    const stored = await h.db.selectFrom('processes').selectAll().where('id', '=', twoSteps.id).executeTakeFirstOrThrow();
    expect(stored.status).toBe('DONE');
    expect(stored.authentications.map((a) => [a.type, a.status])).toEqual([
      ['PIN', 'DONE'],
      ['BIO', 'DONE'],
    ]);
    expect(stored.completed_at).not.toBeNull();
    for (const { p } of logins) {
      const row = await h.db.selectFrom('processes').selectAll().where('id', '=', p.id).executeTakeFirstOrThrow();
      expect([row.status, row.completed_at !== null]).toEqual(['DONE', true]);
    }
    // Eight completions; alone they cost nine updates (the stale one's twice) and two reads.
    expect(counting.statements.filter((k) => k !== 'SelectQueryNode').length).toBeLessThan(7);
  });

  it('a revision naming steps the process does not have changes nothing it should not', async () => {
    const { user } = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(2_000_000) });
    // Claims the PIN step is the only one: the write applies only to exactly these steps, so it reads the truth.
    const forged = processRevision({ authentications: [{ type: 'PIN', fallback: 'NONE', status: 'READY' }] });
    const afterPin = await h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN', revision: forged });
    expect(afterPin.status).toBe('IN_PROGRESS');
    for (const revision of ['', 'not base64 json', processRevision({ authentications: [{ type: 'X' }] } as never)]) {
      expect(await codeOf(h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN', revision }))).toBe(
        'AUTHENTICATION_TYPE_NOT_DEFINED',
      );
    }
  });

  it('racing completions with the same revision complete the step once', async () => {
    const { user } = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
    const revision = processRevision(await h.processes.getRunningProcess({ processId: p.id, userId: user.id }));
    const results = await Promise.all(
      (['PIN', 'PATTERN', 'PIN'] as const).map((type) =>
        codeOf(h.processes.completeAuthentication({ processId: p.id, userId: user.id, type, revision })),
      ),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'RUNNING_PROCESS_NOT_FOUND')).toHaveLength(2);
    const row = await h.db.selectFrom('processes').selectAll().where('id', '=', p.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('DONE');
    expect(row.authentications.filter((a) => a.status === 'DONE')).toHaveLength(1);
  });

  it('READY → IN_PROGRESS → DONE, and then it is no longer running', async () => {
    const { user } = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(2_000_000) });
    const afterPin = await h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN' });
    expect(afterPin.status).toBe('IN_PROGRESS');
    expect(afterPin.authentications.map((a) => a.status)).toEqual(['DONE', 'READY']);
    expect(await codeOf(h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN' }))).toBe(
      'AUTHENTICATION_TYPE_NOT_DEFINED',
    );
    expect(await codeOf(h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PATTERN' }))).toBe(
      'AUTHENTICATION_TYPE_NOT_DEFINED',
    );
    expect((await h.processes.getRunningProcess({ processId: p.id, userId: user.id })).status).toBe('IN_PROGRESS');
    const done = await h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'BIO' });
    expect(done.status).toBe('DONE');
    expect(await codeOf(h.processes.getRunningProcess({ processId: p.id, userId: user.id }))).toBe('RUNNING_PROCESS_NOT_FOUND');
    expect(await codeOf(h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'BIO' }))).toBe(
      'RUNNING_PROCESS_NOT_FOUND',
    );
  });

  it('a fallback factor completes its step', async () => {
    const { user } = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(10_000) });
    expect((await h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN' })).status).toBe('DONE');
  });

  it('an unknown factor is AUTHENTICATION_TYPE_NOT_DEFINED', async () => {
    const { user } = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'CHANGE_DEVICE', transactionContext: '{}' });
    expect(await codeOf(h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: undefined }))).toBe(
      'AUTHENTICATION_TYPE_NOT_DEFINED',
    );
    expect(await codeOf(h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'BIO' }))).toBe(
      'AUTHENTICATION_TYPE_NOT_DEFINED',
    );
  });

  it("another user's, an expired or an unknown process is RUNNING_PROCESS_NOT_FOUND", async () => {
    const { user } = await activatedUser(h);
    const other = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
    expect(await codeOf(h.processes.getRunningProcess({ processId: p.id, userId: other.user.id }))).toBe('RUNNING_PROCESS_NOT_FOUND');
    expect(await codeOf(h.processes.completeAuthentication({ processId: p.id, userId: other.user.id, type: 'PIN' }))).toBe(
      'RUNNING_PROCESS_NOT_FOUND',
    );
    expect(await codeOf(h.processes.getRunningProcess({ processId: 'nope', userId: user.id }))).toBe('RUNNING_PROCESS_NOT_FOUND');
    expect(await codeOf(h.processes.getRunningProcess({ processId: '', userId: user.id }))).toBe('RUNNING_PROCESS_NOT_FOUND');
    h.clock.advance(DEFAULT_TTLS.processTtlMs);
    expect(await codeOf(h.processes.getRunningProcess({ processId: p.id, userId: user.id }))).toBe('RUNNING_PROCESS_NOT_FOUND');
    expect(await codeOf(h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN' }))).toBe(
      'RUNNING_PROCESS_NOT_FOUND',
    );
  });

  it('racing completions of the same factor complete one step once', async () => {
    const { user } = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(3_000_000) });
    const results = await Promise.all(
      Array.from({ length: 6 }, () => codeOf(h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN' }))),
    );
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'AUTHENTICATION_TYPE_NOT_DEFINED')).toHaveLength(5);
    expect((await h.processes.getRunningProcess({ processId: p.id, userId: user.id })).authentications.map((a) => a.status)).toEqual([
      'DONE',
      'READY',
    ]);
  });

  it('racing completions of both factors end DONE with both steps done', async () => {
    const { user } = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(3_000_000) });
    const results = await Promise.all(
      (['PIN', 'BIO'] as const).map((type) => h.processes.completeAuthentication({ processId: p.id, userId: user.id, type })),
    );
    expect(results.map((r) => r.status).sort()).toEqual(['DONE', 'IN_PROGRESS']);
    const row = await h.db.selectFrom('processes').selectAll().where('id', '=', p.id).executeTakeFirstOrThrow();
    expect(row.status).toBe('DONE');
    expect(row.authentications.map((a) => a.status)).toEqual(['DONE', 'DONE']);
  });
});

describe('getRunningProcessForUserToken', () => {
  it('the token holder and its running process in one statement; the holder alone when the process is not its running one', async () => {
    const { user, userToken } = await activatedUser(h);
    const other = await activatedUser(h);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
    const counting = countingDeps(h.deps);
    const found = await createProcesses(counting.deps).getRunningProcessForUserToken({ userToken, processId: p.id });
    expect(counting.statements).toEqual(['SelectQueryNode']);
    expect(found.user).toEqual({ id: user.id, status: 'ACTIVATED', deviceId: user.deviceId });
    expect(found.process).toEqual(await h.processes.getRunningProcess({ processId: p.id, userId: user.id }));

    const holderOnly = { user: { id: other.user.id, status: 'ACTIVATED', deviceId: other.user.deviceId } };
    expect(await h.processes.getRunningProcessForUserToken({ userToken: other.userToken, processId: p.id })).toEqual(holderOnly);
    for (const processId of ['', 'no-such-process', 'x'.repeat(65)]) {
      expect(await h.processes.getRunningProcessForUserToken({ userToken: other.userToken, processId })).toEqual(holderOnly);
    }
    for (const token of ['', 'A'.repeat(43), 'A'.repeat(513)]) {
      expect(await h.processes.getRunningProcessForUserToken({ userToken: token, processId: p.id })).toEqual({});
    }
    await h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN' });
    expect((await h.processes.getRunningProcessForUserToken({ userToken, processId: p.id })).process).toBeUndefined();
    const late = await h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' });
    h.clock.advance(DEFAULT_TTLS.processTtlMs);
    expect(await h.processes.getRunningProcessForUserToken({ userToken, processId: late.id })).toEqual({
      user: { id: user.id, status: 'ACTIVATED', deviceId: user.deviceId },
    });
  });
});

describe('getRunningProcessForUserToken, asked at once by concurrent logins', () => {
  it('shares statements, and answers each its own holder and process, another holder’s process never', async () => {
    const holders = await Promise.all(Array.from({ length: 4 }, () => activatedUser(h)));
    const processes = await Promise.all(
      holders.map(({ user }) => h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' })),
    );
    const counting = countingDeps(h.deps);
    const ask = createProcesses(counting.deps).getRunningProcessForUserToken;
    const asked: [number | 'unknown', number][] = [
      [0, 0],
      [1, 1],
      [2, 0],
      [3, 3],
      ['unknown', 2],
      [1, 1],
      [0, 3],
      [2, 2],
    ];
    const answers = await Promise.all(
      asked.map(([holder, process]) =>
        ask({ userToken: holder === 'unknown' ? 'C'.repeat(43) : holders[holder]!.userToken, processId: processes[process]!.id }),
      ),
    );
    expect(answers.map((a) => (a.user ? `${a.user.id}:${a.process ? a.process.id : '-'}` : 'none'))).toEqual(
      asked.map(([holder, process]) =>
        holder === 'unknown' ? 'none' : `${holders[holder]!.user.id}:${holder === process ? processes[process]!.id : '-'}`,
      ),
    );
    expect(answers[1]).toEqual(answers[5]);
    expect(answers[1]!.user).not.toBe(answers[5]!.user);
    expect(counting.statements.length).toBeLessThan(asked.length);
  });
});

describe('createProcessForUserToken finds the holder in the insert (issue 17, ADR 0021)', () => {
  const login = (userToken: string, deviceId: bigint, listedUserIds: bigint[] = []) => ({
    userToken,
    deviceId,
    transactionType: 'LOGIN' as const,
    transactionContext: '{"biometric_enabled":false}',
    listedUserIds,
    transactionContextIfListed: '{"biometric_enabled":true}',
  });
  const processesOf = async (userId: bigint) =>
    (await h.db.selectFrom('processes').select('id').where('user_id', '=', userId.toString()).execute()).length;
  const factors = (p: { authentications: { type: string; fallback: string }[] }) => p.authentications.map((a) => [a.type, a.fallback]);

  it("one statement: the listed holder's context and policy, else the other; the process as a read answers it, from memory", async () => {
    const { user, userToken } = await activatedUser(h);
    const other = await activatedUser(h);
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    await processes.createProcessForUserToken(login(userToken, user.deviceId!));
    counting.statements.length = 0;

    const plain = await processes.createProcessForUserToken(login(userToken, user.deviceId!, [other.user.id]));
    expect(counting.statements).toEqual(['RawNode']);
    expect(plain).toMatchObject({
      userId: user.id,
      status: 'READY',
      transactionType: 'LOGIN',
      transactionContext: '{"biometric_enabled":false}',
    });
    expect(factors(plain!)).toEqual([['PIN', 'PATTERN']]);
    expect(plain!.userName).toBe((await h.accounts.findByUserId(user.id)).userName);

    const bio = await processes.createProcessForUserToken(login(userToken, user.deviceId!, [other.user.id, user.id]));
    expect(counting.statements).toEqual(['RawNode', 'RawNode']);
    expect(bio!.transactionContext).toBe('{"biometric_enabled":true}');
    expect(factors(bio!)).toEqual([['BIO', 'PIN']]);

    const { userName: _name, ...stored } = bio!;
    expect(await processes.getRunningProcess({ processId: bio!.id, userId: user.id })).toEqual(stored);
    expect(counting.statements).toHaveLength(2);
    expect(await h.processes.getRunningProcess({ processId: bio!.id, userId: user.id })).toEqual(stored);
  });

  it('no process and no error for an unknown token, another device, or a holder who is not ACTIVATED: the insert alone says so', async () => {
    const { user, userToken } = await activatedUser(h);
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    await processes.createProcessForUserToken(login(userToken, user.deviceId!));
    const blocked = await activatedUser(h);
    await h.accounts.updateUserStatus({
      userId: blocked.user.id,
      expectedStatus: 'ACTIVATED',
      newStatus: 'BLOCKED',
      reason: '',
      unlock: false,
    });
    const created = await h.accounts.registerUser(newIdentity({}));
    const before = [await processesOf(user.id), await processesOf(blocked.user.id), await processesOf(created.user.id)];
    for (const input of [
      login(userToken, user.deviceId! + 1n),
      login(userToken, user.deviceId! + 1n, [user.id]),
      login(blocked.userToken, blocked.user.deviceId!),
      login(created.userToken, created.user.deviceId!),
      login('A'.repeat(43), user.deviceId!),
      login('', user.deviceId!),
      login('A'.repeat(513), user.deviceId!),
    ]) {
      counting.statements.length = 0;
      expect(await processes.createProcessForUserToken(input)).toBeUndefined();
      // One statement; none for a string that cannot be a user token.
      expect(counting.statements).toEqual(['', 'A'.repeat(513)].includes(input.userToken) ? [] : ['RawNode']);
    }
    expect([await processesOf(user.id), await processesOf(blocked.user.id), await processesOf(created.user.id)]).toEqual(before);
  });

  it("the holder's own context decides: no policy for it is AUTHENTICATION_POLICY_NOT_FOUND, the other context's none is not", async () => {
    const { user, userToken } = await activatedUser(h);
    const transferTo = (listedUserIds: bigint[]) => ({
      ...login(userToken, user.deviceId!, listedUserIds),
      transactionType: 'TRANSFER' as const,
      transactionContext: transfer(10_000),
      transactionContextIfListed: '{}',
    });
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    expect(factors((await processes.createProcessForUserToken(transferTo([])))!)).toEqual([['BIO', 'PIN']]);
    const before = await processesOf(user.id);
    counting.statements.length = 0;
    expect(await codeOf(processes.createProcessForUserToken(transferTo([user.id])))).toBe('AUTHENTICATION_POLICY_NOT_FOUND');
    expect(counting.statements).toEqual(['RawNode']);
    // An unusable holder is told apart first, as by createProcess's unknown user.
    expect(await h.processes.createProcessForUserToken({ ...transferTo([user.id]), deviceId: user.deviceId! + 1n })).toBeUndefined();
    expect(await processesOf(user.id)).toBe(before);
    await expect(h.processes.createProcessForUserToken({ ...transferTo([]), transactionContextIfListed: 'not json' })).rejects.toThrow(
      /JSON/,
    );
  });

  it('a cached policy that was changed since is never applied: the insert tells, and the policies are read again', async () => {
    const { user, userToken } = await activatedUser(h);
    const cached = createProcesses(h.deps);
    const probe = { ...login(userToken, user.deviceId!), transactionContext: '{"token_probe":1}' };
    expect(factors((await cached.createProcessForUserToken(probe))!)).toEqual([['PIN', 'PATTERN']]);
    const [added] = await h.db
      .insertInto('authentication_policies')
      .values({
        transaction_type: 'LOGIN',
        priority: 4,
        condition: JSON.stringify({ path: 'token_probe', op: 'exists' }),
        authentications: JSON.stringify([{ type: 'PATTERN' }]),
        description: 'test: token probe',
      })
      .returning('id')
      .execute();
    try {
      cached.forgetPolicies();
      expect(factors((await cached.createProcessForUserToken(probe))!)).toEqual([['PATTERN', 'NONE']]);
      await h.db
        .updateTable('authentication_policies')
        .set({ authentications: JSON.stringify([{ type: 'PIN' }]) })
        .where('id', '=', added!.id)
        .execute();
      expect(factors((await cached.createProcessForUserToken(probe))!)).toEqual([['PIN', 'NONE']]);
      await h.db.updateTable('authentication_policies').set({ authentications: '[]' }).where('id', '=', added!.id).execute();
      expect(await codeOf(cached.createProcessForUserToken(probe))).toBe('EMPTY_AUTHENTICATION_PROCESS');
    } finally {
      await h.db.updateTable('authentication_policies').set({ enabled: false }).where('id', '=', added!.id).execute();
    }
  });
});

describe('consumeProcess', () => {
  async function doneTransfer(amount: number) {
    const { user } = await activatedUser(h);
    const context = transfer(amount);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: context });
    await h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'BIO' });
    return { user, context, processId: p.id };
  }

  it('uses a DONE process once, with the exact type and context; racing consumers get one', async () => {
    const { user, context, processId } = await doneTransfer(5_000);
    const consume = (overrides: Partial<{ userId: bigint; transactionContext: string; transactionType: 'TRANSFER' | 'LOGIN' }> = {}) =>
      codeOf(
        h.processes.consumeProcess({ processId, userId: user.id, transactionType: 'TRANSFER', transactionContext: context, ...overrides }),
      );
    expect(await consume({ transactionContext: transfer(5_001) })).toBe('AUTHENTICATION_FAILED');
    expect(await consume({ transactionContext: ` ${context}` })).toBe('AUTHENTICATION_FAILED');
    expect(await consume({ transactionType: 'LOGIN' })).toBe('AUTHENTICATION_FAILED');
    const other = await activatedUser(h);
    expect(await consume({ userId: other.user.id })).toBe('AUTHENTICATION_PROCESS_NOT_FOUND');
    const results = await Promise.all(Array.from({ length: 5 }, () => consume()));
    expect(results.filter((r) => r === 'ok')).toHaveLength(1);
    expect(results.filter((r) => r === 'AUTHENTICATION_FAILED')).toHaveLength(4);
  });

  it('refuses a process that is not DONE, and an expired one as not found', async () => {
    const { user } = await activatedUser(h);
    const context = transfer(2_000_000);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: context });
    await h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'PIN' });
    expect(
      await codeOf(
        h.processes.consumeProcess({ processId: p.id, userId: user.id, transactionType: 'TRANSFER', transactionContext: context }),
      ),
    ).toBe('AUTHENTICATION_FAILED');
    const late = await doneTransfer(100);
    h.clock.advance(DEFAULT_TTLS.processTtlMs);
    expect(
      await codeOf(
        h.processes.consumeProcess({
          processId: late.processId,
          userId: late.user.id,
          transactionType: 'TRANSFER',
          transactionContext: late.context,
        }),
      ),
    ).toBe('AUTHENTICATION_PROCESS_NOT_FOUND');
  });
});

describe('getProcess verifies the signature with the active signing certificate', () => {
  it('true only for a signature by the active certificate over exactly the origin data', async () => {
    // Certificates are checked at the service's clock, so they are made at it.
    const now = h.clock.now();
    const ca = await createSigningCa({ now });
    const otherCa = await createSigningCa({ now });
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const csr = await parseSigningCsr((await createCsr(keys)).pem);
    const { user } = await activatedUser(h);
    const other = await activatedUser(h);
    const certificate = await issueSigningCertificate({ csr, ca, userId: user.id.toString(), validityDays: 365, now });
    const rogue = await issueSigningCertificate({ csr, ca: otherCa, userId: user.id.toString(), validityDays: 365, now });
    h.certificates.set(user.id, { certificateDer: certificate.der, issuerDer: new Uint8Array(ca.cert.rawData) });

    const context = transfer(10_000);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: context });
    const origin = context;
    const sign = async (content: string, der = certificate.der, detached = true) =>
      (
        await signData({
          content: new TextEncoder().encode(content),
          certificateDer: der,
          privateKey: keys.privateKey,
          detached,
          signingTime: now,
        })
      ).base64;
    const get = (signedData: string, originData = origin, userId = user.id) =>
      h.processes.getProcess({ processId: p.id, userId, signedData, originData });

    const good = await get(await sign(origin));
    expect(good.verified).toBe(true);
    expect(good.process.id).toBe(p.id);
    expect((await get(await sign(origin, certificate.der, false))).verified).toBe(true);
    expect((await get(await sign(origin), `${origin} `)).verified).toBe(false); // other content
    expect((await get(await sign(transfer(10_001)))).verified).toBe(false);
    expect((await get(await sign(origin, rogue.der))).verified).toBe(false); // another CA
    expect((await get('')).verified).toBe(false);
    expect((await get('bm90IGNtcw==')).verified).toBe(false);
    expect((await get(await sign(origin), '')).verified).toBe(false);
    // Another user asking: the process is not found (same as a missing one).
    expect(await codeOf(get(await sign(origin), origin, other.user.id))).toBe('AUTHENTICATION_PROCESS_NOT_FOUND');
    expect(await codeOf(h.processes.getProcess({ processId: 'missing', userId: user.id, signedData: '', originData: '' }))).toBe(
      'AUTHENTICATION_PROCESS_NOT_FOUND',
    );

    // With consume (issue 17): only a verified signature spends the process, and only a DONE one
    // of that type and context; a retry for the same context is told it is used.
    const consume = (signedData: string, transactionContext = context) =>
      h.processes.getProcess({
        processId: p.id,
        userId: user.id,
        signedData,
        originData: origin,
        consume: { transactionType: 'TRANSFER', transactionContext },
      });
    expect(await consume(await sign(origin))).toMatchObject({ verified: true, consumed: false }); // not DONE yet
    await h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'BIO' });
    expect(await consume('bm90IGNtcw==')).toMatchObject({ verified: false, consumed: false });
    expect(await consume(await sign(origin), transfer(1))).toMatchObject({ verified: true, consumed: false });
    expect((await get(await sign(origin))).process.consumedAt).toBeNull();
    const spent = await consume(await sign(origin));
    expect(spent).toMatchObject({ verified: true, consumed: true });
    expect(spent.process.consumedAt).not.toBeNull();
    expect(await consume(await sign(origin))).toMatchObject({ verified: true, consumed: true }); // the same transaction again
    expect(await consume(await sign(origin), transfer(1))).toMatchObject({ consumed: false });
    expect(
      await codeOf(
        h.processes.consumeProcess({ processId: p.id, userId: user.id, transactionType: 'TRANSFER', transactionContext: context }),
      ),
    ).toBe('AUTHENTICATION_FAILED');

    // No active certificate (revoked or never issued): not verified.
    h.certificates.delete(user.id);
    expect((await get(await sign(origin))).verified).toBe(false);
  });
});

describe("createProcess answers the user's name from its insert (issue 17, ADR 0018)", () => {
  it('the name FindByUserId answers, for an active, a blocked and a withdrawn member, in the one statement', async () => {
    const { user } = await activatedUser(h);
    await h.db.updateTable('users').set({ user_name: '남궁민수' }).where('id', '=', user.id.toString()).execute();
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    await processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(10_000) });
    counting.statements.length = 0;
    const p = await processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: transfer(10_000) });
    expect(counting.statements).toEqual(['RawNode']);
    expect(p.userName).toBe('남궁민수');
    expect(p.userName).toBe((await h.accounts.findByUserId(user.id)).userName);

    await h.accounts.updateUserStatus({ userId: user.id, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: '', unlock: false });
    expect((await h.processes.createProcess({ userId: user.id, transactionType: 'LOGIN', transactionContext: '{}' })).userName).toBe(
      '남궁민수',
    );

    // A withdrawn member's name is kept only sealed: FindByUserId answers it empty, and so does this.
    const withdrawn = await withdrawnUser(h, '김철수');
    const created = await h.processes.createProcess({ userId: withdrawn, transactionType: 'LOGIN', transactionContext: '{}' });
    expect(created.userName).toBe('');
    expect((await h.accounts.findByUserId(withdrawn)).userName).toBe('');
  });
});

describe('createProcessForRecipient reads the recipient in the insert and inserts only for an ACTIVATED one (issue 17, ADR 0019)', () => {
  const processesOf = async (userId: bigint) =>
    (await h.db.selectFrom('processes').select('id').where('user_id', '=', userId.toString()).execute()).length;

  it('an ACTIVATED recipient: the process, with both names as FindByUserId answers them, in one statement', async () => {
    const { user } = await activatedUser(h);
    const recipient = (await activatedUser(h)).user.id;
    await h.db.updateTable('users').set({ user_name: '제갈공명' }).where('id', '=', recipient.toString()).execute();
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    const input = {
      userId: user.id,
      transactionType: 'TRANSFER',
      transactionContext: transfer(10_000),
      recipientUserId: recipient,
    } as const;
    await processes.createProcessForRecipient(input);
    counting.statements.length = 0;
    const { created, recipient: facts } = await processes.createProcessForRecipient(input);
    expect(counting.statements).toEqual(['RawNode']);
    expect(created).toMatchObject({ userId: user.id, status: 'READY', transactionType: 'TRANSFER' });
    expect(created!.userName).toBe((await h.accounts.findByUserId(user.id)).userName);
    expect(facts).toEqual({ status: 'ACTIVATED', userName: '제갈공명' });
    expect(await h.db.selectFrom('processes').select('id').where('id', '=', created!.id).executeTakeFirst()).toBeDefined();
  });

  it('BLOCKED, DEACTIVATED (withdrawn) or no such user: answered as FindByUserId would, and no process inserted', async () => {
    const { user } = await activatedUser(h);
    const blocked = (await activatedUser(h)).user.id;
    await h.accounts.updateUserStatus({ userId: blocked, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: '', unlock: false });
    const withdrawn = await withdrawnUser(h, '김철수');
    for (const [recipientUserId, expected] of [
      [blocked, { status: 'BLOCKED', userName: (await h.accounts.findByUserId(blocked)).userName }],
      [withdrawn, { status: 'DEACTIVATED', userName: '' }],
      [987_654_321n, { status: null, userName: '' }],
    ] as const) {
      const before = await processesOf(user.id);
      const answer = await h.processes.createProcessForRecipient({
        userId: user.id,
        transactionType: 'TRANSFER',
        transactionContext: transfer(10_000),
        recipientUserId,
      });
      expect(answer).toEqual({ created: undefined, recipient: expected });
      expect(await processesOf(user.id)).toBe(before);
    }
  });

  it('creations made at once share statements (ADR 0027), each with its own process, names and recipient', async () => {
    const senders = await Promise.all(Array.from({ length: 4 }, async () => (await activatedUser(h)).user));
    const active = (await activatedUser(h)).user;
    const blocked = (await activatedUser(h)).user.id;
    await h.accounts.updateUserStatus({ userId: blocked, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: '', unlock: false });
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    // Warm the policy cache, so only the inserts are counted.
    await processes.createProcess({ userId: senders[0]!.id, transactionType: 'LOGIN', transactionContext: '{}' });
    counting.statements.length = 0;
    const toRecipient = (userId: bigint, recipientUserId: bigint) =>
      processes.createProcessForRecipient({ userId, transactionType: 'TRANSFER', transactionContext: transfer(10_000), recipientUserId });
    const [toActive, toBlocked, toNobody, login, toActiveAgain] = await Promise.all([
      toRecipient(senders[0]!.id, active.id),
      toRecipient(senders[1]!.id, blocked),
      toRecipient(senders[2]!.id, 987_654_321n),
      processes.createProcess({ userId: senders[3]!.id, transactionType: 'LOGIN', transactionContext: '{}' }),
      toRecipient(senders[3]!.id, active.id),
    ]);
    const activeName = (await h.accounts.findByUserId(active.id)).userName;
    expect(toActive.created).toMatchObject({
      userId: senders[0]!.id,
      status: 'READY',
      transactionType: 'TRANSFER',
      userName: senders[0]!.userName,
    });
    expect(toActive.recipient).toEqual({ status: 'ACTIVATED', userName: activeName });
    expect(toBlocked).toEqual({
      created: undefined,
      recipient: { status: 'BLOCKED', userName: (await h.accounts.findByUserId(blocked)).userName },
    });
    expect(toNobody).toEqual({ created: undefined, recipient: { status: null, userName: '' } });
    expect(login).toMatchObject({ userId: senders[3]!.id, transactionType: 'LOGIN', userName: senders[3]!.userName });
    expect(toActiveAgain.created).toMatchObject({ userId: senders[3]!.id, transactionType: 'TRANSFER' });
    expect(toActiveAgain.created!.id).not.toBe(login.id);
    expect(await processesOf(senders[1]!.id)).toBe(0);
    expect(await processesOf(senders[2]!.id)).toBe(0);
    expect(await processesOf(senders[3]!.id)).toBe(2);
    expect(counting.statements.length).toBeLessThan(5);
  });

  it('the sender is checked as createProcess checks it; no policy is still AUTHENTICATION_POLICY_NOT_FOUND', async () => {
    const recipient = (await activatedUser(h)).user.id;
    const create = (userId: bigint, transactionContext: string) =>
      h.processes.createProcessForRecipient({ userId, transactionType: 'TRANSFER', transactionContext, recipientUserId: recipient });
    await expect(create(987_654_321n, transfer(10_000))).rejects.toThrow('no such user');
    const { user } = await activatedUser(h);
    expect(await codeOf(create(user.id, '{}'))).toBe('AUTHENTICATION_POLICY_NOT_FOUND');
  });
});

describe("getProcess with consume answers a recipient's status from the consume statement (issue 17, ADR 0018)", () => {
  async function signedTransfer() {
    const now = h.clock.now();
    const ca = await createSigningCa({ now });
    const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const { user } = await activatedUser(h);
    const certificate = await issueSigningCertificate({
      csr: await parseSigningCsr((await createCsr(keys)).pem),
      ca,
      userId: user.id.toString(),
      validityDays: 365,
      now,
    });
    h.certificates.set(user.id, { certificateDer: certificate.der, issuerDer: new Uint8Array(ca.cert.rawData) });
    const context = transfer(10_000);
    const p = await h.processes.createProcess({ userId: user.id, transactionType: 'TRANSFER', transactionContext: context });
    await h.processes.completeAuthentication({ processId: p.id, userId: user.id, type: 'BIO' });
    const signed = (
      await signData({
        content: new TextEncoder().encode(context),
        certificateDer: certificate.der,
        privateKey: keys.privateKey,
        detached: true,
        signingTime: now,
      })
    ).base64;
    const consume = (recipientUserId: bigint | undefined, signedData = signed, processes = h.processes) =>
      processes.getProcess({
        processId: p.id,
        userId: user.id,
        signedData,
        originData: context,
        consume: {
          transactionType: 'TRANSFER',
          transactionContext: context,
          ...(recipientUserId === undefined ? {} : { recipientUserId }),
        },
      });
    return { user, consume };
  }

  it('ACTIVATED, BLOCKED, DEACTIVATED (withdrawn) as FindByUserId; null for no such user; one statement', async () => {
    const active = (await activatedUser(h)).user.id;
    const blocked = (await activatedUser(h)).user.id;
    await h.accounts.updateUserStatus({ userId: blocked, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: '', unlock: false });
    const withdrawn = await withdrawnUser(h);

    const first = await signedTransfer();
    const counting = countingDeps(h.deps);
    const spent = await first.consume(active, undefined, createProcesses(counting.deps));
    expect(spent).toMatchObject({ verified: true, consumed: true, recipientStatus: 'ACTIVATED' });
    expect(counting.statements).toEqual(['RawNode']);

    for (const [recipient, expected] of [
      [blocked, 'BLOCKED'],
      [withdrawn, 'DEACTIVATED'],
      [987_654_321n, null],
    ] as const) {
      const { consume } = await signedTransfer();
      expect(await consume(recipient)).toMatchObject({ verified: true, consumed: true, recipientStatus: expected });
      if (expected !== null) expect((await h.accounts.findByUserId(recipient)).status).toBe(expected);
    }
  });

  it('consumptions made at once share statements (ADR 0027), each with its own recipient status', async () => {
    const active = (await activatedUser(h)).user.id;
    const blocked = (await activatedUser(h)).user.id;
    await h.accounts.updateUserStatus({ userId: blocked, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: '', unlock: false });
    const withdrawn = await withdrawnUser(h);
    const recipients = [active, blocked, withdrawn, 987_654_321n, active, blocked];
    const transfers = await Promise.all(recipients.map(() => signedTransfer()));
    const counting = countingDeps(h.deps);
    const processes = createProcesses(counting.deps);
    const answers = await Promise.all(transfers.map(({ consume }, i) => consume(recipients[i], undefined, processes)));
    expect(answers.map((a) => [a.verified, a.consumed, a.recipientStatus])).toEqual([
      [true, true, 'ACTIVATED'],
      [true, true, 'BLOCKED'],
      [true, true, 'DEACTIVATED'],
      [true, true, null],
      [true, true, 'ACTIVATED'],
      [true, true, 'BLOCKED'],
    ]);
    for (const { user } of transfers) {
      const rows = await h.db.selectFrom('processes').select('consumed_at').where('user_id', '=', user.id.toString()).execute();
      expect(rows.map((r) => r.consumed_at !== null)).toEqual([true]);
    }
    expect(counting.statements.length).toBeLessThan(transfers.length);
  });

  it('also when the process was consumed by an earlier call (a retry); not when the signature fails or none is asked', async () => {
    const blocked = (await activatedUser(h)).user.id;
    const { consume } = await signedTransfer();
    expect(await consume(blocked)).toMatchObject({ consumed: true, recipientStatus: 'ACTIVATED' });
    await h.accounts.updateUserStatus({ userId: blocked, expectedStatus: 'ACTIVATED', newStatus: 'BLOCKED', reason: '', unlock: false });
    // The retry after a refusal: the process is this transfer's already, the status is read afresh.
    expect(await consume(blocked)).toMatchObject({ verified: true, consumed: true, recipientStatus: 'BLOCKED' });
    const refused = await consume(blocked, 'bm90IGNtcw==');
    expect(refused).toMatchObject({ verified: false, consumed: false });
    expect(refused.recipientStatus).toBeUndefined();
    expect((await consume(undefined)).recipientStatus).toBeUndefined();
  });
});
