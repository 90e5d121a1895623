// Makes the files docker-compose mounts as secrets (see docs/deploy.md): a dev server CA and a
// server certificate, the device CA, the E2E key-encryption key, and the internal PKI of a split
// run (internal CA, the edge's certificate, one certificate per service), in deploy/dev-secrets/
// (gitignored). Run once; existing files are kept, delete the folder to start over.
//
//   node --import tsx scripts/dev-certs.ts [DIR]
//
// Development only: real deployments bring their own certificates and keys (Secrets in deploy/).
import { randomBytes } from 'node:crypto';
import { chmod, readdir, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ensureDevCertificates, ensureDevInternalPki, ensureDevSigningCa } from '@kfrm/pki';

const repoRoot = resolve(fileURLToPath(new URL('..', import.meta.url)));

/** The service folders' names: each is a process of a split run and a compose host name. */
export async function serviceNames(root = repoRoot): Promise<string[]> {
  return (await readdir(join(root, 'services'), { withFileTypes: true }))
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** Names the server certificate answers to: loopback, the edge, and every compose service's host name. */
export async function devCertificateHosts(root = repoRoot): Promise<string[]> {
  return ['localhost', '127.0.0.1', '::1', 'backend', 'edge', ...(await serviceNames(root))];
}

export interface DevSecrets {
  serverCaCertFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  deviceCaCertFile: string;
  deviceCaKeyFile: string;
  e2eKekFile: string;
  authPepperFile: string;
  casaPepperFile: string;
  userDataKeyFile: string;
  residentIdHashKeyFile: string;
  signingCaCertFile: string;
  signingCaKeyFile: string;
  /** Internal PKI of a split run (see ensureDevInternalPki). */
  internalCaCertFile: string;
  internalCaKeyFile: string;
  edgeCertFile: string;
  edgeKeyFile: string;
}

async function ensureRandomKeyFile(file: string): Promise<void> {
  const exists = await stat(file).then(
    () => true,
    () => false,
  );
  if (!exists) await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
}

/**
 * Every dev secret in `dir`; the per-service internal certificates are there too
 * (`internal-<service>.pem`/`.key`; `ensureDevInternalPki(dir, services)` names them).
 */
export async function ensureDevSecrets(dir: string, hosts: string[], services?: string[]): Promise<DevSecrets> {
  const tls = await ensureDevCertificates(dir, hosts);
  const e2eKekFile = join(dir, 'e2e-kek');
  const authPepperFile = join(dir, 'auth-pepper');
  await ensureRandomKeyFile(e2eKekFile);
  await ensureRandomKeyFile(authPepperFile);
  const casaPepperFile = join(dir, 'casa-pepper');
  await ensureRandomKeyFile(casaPepperFile);
  const userDataKeyFile = join(dir, 'user-data-key');
  await ensureRandomKeyFile(userDataKeyFile);
  const residentIdHashKeyFile = join(dir, 'resident-id-hash-key');
  await ensureRandomKeyFile(residentIdHashKeyFile);
  const signing = await ensureDevSigningCa(dir);
  const internal = await ensureDevInternalPki(dir, services ?? (await serviceNames()));
  const files: DevSecrets = {
    ...tls,
    e2eKekFile,
    authPepperFile,
    casaPepperFile,
    userDataKeyFile,
    residentIdHashKeyFile,
    ...signing,
    internalCaCertFile: internal.internalCaCertFile,
    internalCaKeyFile: internal.internalCaKeyFile,
    edgeCertFile: internal.edge.certFile,
    edgeKeyFile: internal.edge.keyFile,
  };
  // Compose mounts file secrets as bind mounts and ignores `uid`/`mode` for them, so the
  // container's user (uid 10001) can read them only if they are world-readable. Acceptable for
  // throwaway dev keys in a gitignored folder; never do this with real keys.
  await chmod(dir, 0o755);
  for (const file of Object.values(files)) await chmod(file, 0o644);
  for (const service of Object.values(internal.services)) {
    await chmod(service.certFile, 0o644);
    await chmod(service.keyFile, 0o644);
  }
  return files;
}

/** The real-mode variables that name these files (README, "Configuration"), for a process started with them. */
export function devSecretsEnv(files: DevSecrets): Record<string, string> {
  return {
    KFRM_TLS_CERT_FILE: files.serverCertFile,
    KFRM_TLS_KEY_FILE: files.serverKeyFile,
    KFRM_DEVICE_CA_CERT_FILE: files.deviceCaCertFile,
    KFRM_DEVICE_CA_KEY_FILE: files.deviceCaKeyFile,
    KFRM_E2E_KEK_FILE: files.e2eKekFile,
    KFRM_AUTH_PEPPER_FILE: files.authPepperFile,
    KFRM_CASA_PEPPER_FILE: files.casaPepperFile,
    KFRM_USER_DATA_KEY_FILE: files.userDataKeyFile,
    KFRM_USER_RESIDENT_ID_HASH_KEY_FILE: files.residentIdHashKeyFile,
    KFRM_SIGNING_CA_CERT_FILE: files.signingCaCertFile,
    KFRM_SIGNING_CA_KEY_FILE: files.signingCaKeyFile,
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const dir = resolve(process.argv[2] ?? join(repoRoot, 'deploy', 'dev-secrets'));
  const services = await serviceNames();
  const files = await ensureDevSecrets(dir, await devCertificateHosts(), services);
  for (const [name, file] of Object.entries(files)) process.stdout.write(`${name.padEnd(18)} ${file}\n`);
  for (const [service, pair] of Object.entries((await ensureDevInternalPki(dir, services)).services)) {
    process.stdout.write(`${`internal ${service}`.padEnd(18)} ${pair.certFile} ${pair.keyFile}\n`);
  }
}
