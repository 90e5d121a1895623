// Issue 16 item 4, end to end in headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core): the whole backend with the console on a free port; a customer signs up on a
// phone; operator alice (kyc-reviewer, teller, auditor) signs in with a token of the local
// issuer, reviews the customer's submitted KYC data and approves it; the phone opens an account;
// alice deposits above the approval threshold and is held; bob, a second teller, approves; alice
// reads and verifies the audit log. Screenshots go to docs/back-office/.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { randomInt, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppClient, loginWithPin, registerUser, unary, withSession } from '@kfrm/app-client';
import { CasaOpeningServiceClient } from '@kfrm/proto/gen/kfrm/api/casa/casa';
import type { ListenAddress } from '@kfrm/config';
import { operatorToken } from '@kfrm/runtime/testing/operator-tokens.fixtures';
import { startTestServices, type TestServices } from '@kfrm/runtime/testing/services.harness';
import { serviceModules } from './service-modules';
import { createBackOfficeModule } from '@kfrm/service-back-office';

const CHROMIUM = '/usr/bin/chromium';
// The committed screenshots are refreshed with KFRM_BACK_OFFICE_SCREENSHOTS=docs/back-office (a
// path from the repository root); otherwise they go to a temporary directory.
const SHOTS = process.env.KFRM_BACK_OFFICE_SCREENSHOTS
  ? resolve(import.meta.dirname, '../../..', process.env.KFRM_BACK_OFFICE_SCREENSHOTS)
  : join(tmpdir(), `kfrm-back-office-shots-${process.pid}`);
const KYC_DATA = '{"document":"resident-card","issued":"2019-03-04","photo_match":"0.97","address":"서울특별시 중구 세종대로 110"}';

let services: TestServices;
let consoleUrl = '';
let browser: Browser | undefined;
const apps: AppClient[] = [];

beforeAll(async () => {
  let bound: ListenAddress | undefined;
  const modules = serviceModules.map((m) => (m.name === 'back-office' ? createBackOfficeModule({ onListening: (a) => (bound = a) }) : m));
  services = await startTestServices(modules, {
    name: 'back-office-e2e',
    env: { LOG_LEVEL: 'silent', KFRM_BACK_OFFICE_LISTEN: '127.0.0.1:0' },
  });
  consoleUrl = `http://127.0.0.1:${bound!.port}`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  await mkdir(SHOTS, { recursive: true });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  for (const app of apps) app.close();
  await services?.close();
});

async function signIn(page: Page, roles: Parameters<typeof operatorToken>[1], subject: string) {
  const token = await operatorToken(services.running.config.operatorIssuerDir, roles, subject);
  await page.goto(`${consoleUrl}/login`);
  await page.fill('textarea[name=token]', token);
  await page.click('button[type=submit]');
  await page.waitForLoadState();
  if (page.url() !== `${consoleUrl}/`) throw new Error(`sign-in failed: ${page.url()} ${await page.textContent('main')}`);
  expect(await page.textContent('#operator')).toBe(subject);
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
const notice = (page: Page) => page.textContent('[role=status]');

describe.skipIf(!existsSync(CHROMIUM))('back-office console in headless Chromium', () => {
  it('signs in, reviews KYC, holds a large deposit for a second operator, verifies the audit log', async () => {
    // A customer signs up on a phone (RegisterKyc sends the KYC data).
    const app = new AppClient({ address: services.mobileAddress, serverCaPem: services.serverCaPem });
    apps.push(app);
    await app.registerDevice('ec-p256');
    const user = await registerUser(app, {
      name: '김하늘',
      phoneNumber: '010-1357-2468',
      deviceUuid: randomUUID(),
      pin: '582916',
      pattern: '14763',
      residentId: `900327-2${String(randomInt(0, 1_000_000)).padStart(6, '0')}`,
      kycData: KYC_DATA,
    });

    const alice = await browser!.newContext();
    const page = await alice.newPage();
    const first = await page.goto(`${consoleUrl}/`);
    expect(first?.url()).toBe(`${consoleUrl}/login`);
    expect((await first!.allHeaders())['content-security-policy']).toContain("default-src 'none'");
    await shot(page, '01-sign-in');
    await signIn(page, ['kyc-reviewer', 'teller', 'auditor'], 'alice');
    const cookies = await alice.cookies();
    expect(cookies.find((c) => c.name === '__Host-kfrm-bo')).toMatchObject({ httpOnly: true, secure: true, sameSite: 'Strict' });

    // KYC review: the queue, the submitted data, the decision.
    await page.goto(`${consoleUrl}/kyc`);
    await page.click(`#review-${user.userId}`);
    expect(await page.textContent('#kyc-data')).toContain('서울특별시 중구 세종대로 110');
    await shot(page, '02-kyc-review');
    await page.selectOption('select[name=decision]', 'VERIFIED');
    await page.fill('input[name=reason]', 'resident card matches the verified identity');
    await page.click('#kyc-decide');
    expect(await notice(page)).toContain('recorded as VERIFIED');
    expect(await page.textContent('#kyc-status')).toBe('VERIFIED');

    // Customer lookup (phone masked).
    await page.goto(`${consoleUrl}/customers?q=${user.customerId}`);
    expect(await page.textContent('#customer')).toContain('010****2468');
    await shot(page, '03-customer-lookup');

    // The phone opens its account now that KYC is VERIFIED.
    const { sessionToken } = await loginWithPin(app, user.userToken, '582916');
    const casa = app.client(CasaOpeningServiceClient);
    const session = withSession(sessionToken);
    await unary(casa, casa.initiateOpening, {}, session);
    const { terms } = await unary(casa, casa.listTerms, {}, session);
    await unary(casa, casa.agreeTerms, { agreements: terms.map((t) => ({ termId: t.id, agreed: true })) }, session);
    const { account } = await unary(casa, casa.completeOpening, { password: '2580' }, session);

    // 3,000,000 KRW is above the threshold: held for a second operator.
    await page.goto(`${consoleUrl}/deposit`);
    await page.fill('input[name=account_number]', account!.accountNumber);
    await page.fill('input[name=amount]', '3,000,000');
    await page.click('#deposit-submit');
    expect(await notice(page)).toMatch(/Waiting for a second operator's approval \(request [0-9a-f-]{36}\)/);
    await shot(page, '04-deposit-held');
    // The maker cannot approve their own request.
    await page.goto(`${consoleUrl}/approvals`);
    expect(await page.textContent('#approvals')).toContain('yours: another operator decides');

    // Bob, another teller, approves it.
    const bobContext = await browser!.newContext();
    const bob = await bobContext.newPage();
    await signIn(bob, ['teller'], 'bob');
    await bob.goto(`${consoleUrl}/approvals`);
    await shot(bob, '05-pending-approvals');
    await bob.click('#approvals button:has-text("Approve")');
    expect(await notice(bob)).toMatch(/EXECUTED \(OK\)/);
    // Bob is no auditor: the audit log is refused to him.
    const refused = await bob.goto(`${consoleUrl}/audit`);
    expect(refused?.status()).toBe(403);
    await bobContext.close();

    // Alice reads the audit log and verifies the chain.
    await page.goto(`${consoleUrl}/audit`);
    const log = (await page.textContent('#audit-log')) ?? '';
    for (const action of ['user.kyc_data_read', 'user.kyc_decision', 'ledger.deposit', 'operator.approval']) expect(log).toContain(action);
    expect(log).not.toContain('서울특별시');
    await page.click('#audit-verify');
    expect(await notice(page)).toMatch(/Audit log verified: \d+ rows/);
    await shot(page, '06-audit-log-verified');

    // Signing out ends the session on the server: the old cookie opens nothing.
    const [sessionCookie] = (await alice.cookies()).filter((c) => c.name === '__Host-kfrm-bo');
    await page.click('header button[type=submit]');
    await page.waitForURL(`${consoleUrl}/login`);
    const replay = await fetch(`${consoleUrl}/kyc`, { headers: { cookie: `__Host-kfrm-bo=${sessionCookie!.value}` }, redirect: 'manual' });
    expect([replay.status, replay.headers.get('location')]).toEqual([303, '/login']);
    await alice.close();
  }, 60_000);
});
