// Every unary method the phone reaches is classified for idempotency keys (docs/idempotency.md):
// a mutating method without `idempotent: true` would run twice on a retry, a method the doc does
// not list would be undocumented. Built as each process builds its modules.
import { readFile } from 'node:fs/promises';
import { describeModuleRegistrations } from '@kfrm/runtime';
import { describe, expect, it } from 'vitest';
import { serviceModules } from './service-modules';

/** The method paths listed under one `### heading` of the doc. */
function listedUnder(doc: string, heading: string): string[] {
  const start = doc.indexOf(`### ${heading}`);
  if (start < 0) throw new Error(`docs/idempotency.md has no "### ${heading}" section`);
  const end = doc.indexOf('\n#', start + 4);
  const section = doc.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/^- `(\/[^`]+)`/gm)].map((m) => m[1]!);
}

describe('idempotency coverage', () => {
  it('each phone-facing unary method is idempotent exactly when docs/idempotency.md lists it as mutating', async () => {
    const doc = await readFile(new URL('../../../docs/idempotency.md', import.meta.url), 'utf8');
    const registrations = await describeModuleRegistrations(serviceModules);
    const methods = registrations.flatMap((r) => r.mobileUnaryMethods);
    const idempotent = methods.filter((m) => m.idempotent).map((m) => m.path);
    const reads = methods.filter((m) => !m.idempotent).map((m) => m.path);
    expect(new Set(idempotent)).toEqual(new Set(listedUnder(doc, 'Idempotent (mutating)')));
    expect(new Set(reads)).toEqual(new Set(listedUnder(doc, 'Reads (the key is ignored)')));
    // The brief's named ones, whatever else changes.
    for (const path of [
      '/kfrm.api.device.DeviceService/CreateDevice',
      '/kfrm.api.auth.RegistrationService/IssueSigningCertificate',
      '/kfrm.api.transfer.TransferService/GetPreCheck',
      '/kfrm.api.transfer.TransferService/Execute',
      '/kfrm.api.funding.FundingService/RequestAutoDebitConsent',
      '/kfrm.api.funding.FundingService/ConfirmAutoDebitConsent',
      '/kfrm.api.casa.CasaOpeningService/CompleteOpening',
      '/kfrm.api.auth.CredentialChangeService/ChangePin',
    ]) {
      expect(idempotent).toContain(path);
    }
  }, 60_000);
});
