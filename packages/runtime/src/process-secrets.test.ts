import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { processSecretDeclarations, processSecretProblems, secretApplies, type SecretDeclaration } from './process-secrets';

const dir = mkdtempSync(join(tmpdir(), 'kfrm-process-secrets-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
function file(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, 'x');
  return path;
}

const device = {
  name: 'device',
  secrets: [{ env: 'KFRM_DEVICE_CA_KEY_FILE', form: 'file', what: 'device CA private key' }] as SecretDeclaration[],
};
const account = { name: 'account' };
const funding = {
  name: 'funding',
  secrets: [
    { env: 'KONAPLATE_URL', form: 'setting', what: 'Konaplate URL', unless: { env: 'KFRM_FUNDING_SANDBOXES', is: 'true' } },
    { env: 'KONAPLATE_SECRET_KEY', form: 'value', what: 'Konaplate key', unless: { env: 'KFRM_FUNDING_SANDBOXES', is: 'true' } },
  ] as SecretDeclaration[],
};
const base = () => ({
  DATABASE_URL: 'postgres://kfrm@db/kfrm',
  KFRM_DEVICE_CA_CERT_FILE: file('device-ca.pem'),
  KFRM_TLS_CERT_FILE: file('server.pem'),
  KFRM_TLS_KEY_FILE: file('server.key'),
});

describe('process secrets', () => {
  it('asks nothing of the embedded default, which generates its development keys', () => {
    expect(processSecretProblems([device, account, funding], {})).toEqual([]);
  });

  it('requires the device CA key of the device service only', () => {
    expect(processSecretProblems([account], base())).toEqual([]);
    expect(processSecretProblems([device], base())).toEqual(['KFRM_DEVICE_CA_KEY_FILE is required by device (device CA private key)']);
    expect(processSecretProblems([device], { ...base(), KFRM_DEVICE_CA_KEY_FILE: file('device-ca.key') })).toEqual([]);
  });

  it('names every missing variable at once, and a file that is not there', () => {
    const problems = processSecretProblems([device], { DATABASE_URL: 'postgres://db/kfrm', KFRM_DEVICE_CA_KEY_FILE: join(dir, 'nope') });
    expect(problems).toEqual([
      'KFRM_DEVICE_CA_CERT_FILE is required by every service (device CA certificate (checks phones’ client certificates))',
      'KFRM_TLS_CERT_FILE is required by every service (server certificate of the mobile listener) unless KFRM_MOBILE_LISTEN=off',
      'KFRM_TLS_KEY_FILE is required by every service (server private key of the mobile listener) unless KFRM_MOBILE_LISTEN=off',
      `KFRM_DEVICE_CA_KEY_FILE=${join(dir, 'nope')} is not a readable file (device CA private key)`,
    ]);
  });

  it('needs no server key with the mobile listener off, and the internal certificate with an edge listener', () => {
    const split = { DATABASE_URL: 'postgres://db/kfrm', KFRM_DEVICE_CA_CERT_FILE: file('ca.pem'), KFRM_MOBILE_LISTEN: 'off' };
    expect(processSecretProblems([account], split)).toEqual([]);
    expect(processSecretProblems([account], { ...split, KFRM_EDGE_LISTEN: '0.0.0.0:50061' }).map((p) => p.split(' ')[0])).toEqual([
      'KFRM_INTERNAL_TLS_CERT_FILE',
      'KFRM_INTERNAL_TLS_KEY_FILE',
      'KFRM_INTERNAL_CA_CERT_FILE',
    ]);
    expect(processSecretProblems([account], { ...split, KFRM_EDGE_LISTEN: 'off' })).toEqual([]);
  });

  it('lets funding run without provider credentials only with its sandboxes', () => {
    expect(processSecretProblems([funding], base())).toEqual([
      'KONAPLATE_URL is required by funding (Konaplate URL) unless KFRM_FUNDING_SANDBOXES=true',
      'KONAPLATE_SECRET_KEY is required by funding (Konaplate key) unless KFRM_FUNDING_SANDBOXES=true',
    ]);
    expect(processSecretProblems([funding], { ...base(), KFRM_FUNDING_SANDBOXES: 'true' })).toEqual([]);
    const [url] = funding.secrets;
    expect(secretApplies(url!, { KFRM_FUNDING_SANDBOXES: 'false' })).toBe(true);
  });

  it('merges two modules reading one variable: required if either requires it', () => {
    const optional = { name: 'a', secrets: [{ env: 'X_FILE', form: 'file', what: 'x', optional: true }] as SecretDeclaration[] };
    const required = { name: 'b', secrets: [{ env: 'X_FILE', form: 'file', what: 'x' }] as SecretDeclaration[] };
    expect(processSecretDeclarations([optional, required]).find((s) => s.env === 'X_FILE')?.optional).toBeUndefined();
    expect(processSecretProblems([optional], base())).toEqual([]);
    expect(processSecretProblems([optional, required], base())).toEqual(['X_FILE is required by a, b (x)']);
  });
});
