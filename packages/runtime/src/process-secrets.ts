import { accessSync, constants, statSync } from 'node:fs';
import { ConfigError, type Env } from '@kfrm/config';

/**
 * Which secrets a process needs, declared next to the code that reads them, so that a
 * deployment can give each process exactly those (docker-compose, Kubernetes: checked by
 * `pnpm validate:deploy`) and a process missing one stops at start with one line naming it.
 *
 * The conditions are data, not functions, so the validator can evaluate them on a manifest's
 * environment the same way the process evaluates them on its own.
 */
export type EnvCondition =
  /** The variable has exactly this value. */
  | { env: string; is: string }
  /** The variable is set to something other than empty or "off". */
  | { env: string; isOn: true }
  /** The variable is unset or has another value. */
  | { env: string; isNot: string };

export interface SecretDeclaration {
  /** The variable the process reads. */
  env: string;
  /**
   * file: the variable names a file (a mounted Secret); value: the variable holds the secret
   * itself (from a Secret, never a ConfigMap); setting: not secret (a ConfigMap or plain
   * environment), but required on the same conditions as the secrets it goes with.
   */
  form: 'file' | 'value' | 'setting';
  /** What it is, for the start-up message and docs/deploy.md. */
  what: string;
  /** May be given, never required (e.g. Konaplate's optional message encryption key). */
  optional?: boolean;
  /** Read only while this holds: otherwise the process must not be given it. */
  when?: EnvCondition;
  /** Not required while this holds, though still read when given (e.g. funding's sandboxes). */
  unless?: EnvCondition;
}

/**
 * What every real-mode process reads, whatever services it runs: its listeners' certificates
 * and the device CA certificate (public: every mobile-facing listener checks phones'
 * certificates against it). The database URL carries the password.
 */
export const RUNTIME_SECRETS: readonly SecretDeclaration[] = [
  { env: 'DATABASE_URL', form: 'value', what: 'PostgreSQL URL (with its password)' },
  { env: 'REDIS_URL', form: 'value', what: 'Redis URL (with its password, if any)', optional: true },
  { env: 'KFRM_DEVICE_CA_CERT_FILE', form: 'file', what: 'device CA certificate (checks phones’ client certificates)' },
  {
    env: 'KFRM_TLS_CERT_FILE',
    form: 'file',
    what: 'server certificate of the mobile listener',
    when: { env: 'KFRM_MOBILE_LISTEN', isNot: 'off' },
  },
  {
    env: 'KFRM_TLS_KEY_FILE',
    form: 'file',
    what: 'server private key of the mobile listener',
    when: { env: 'KFRM_MOBILE_LISTEN', isNot: 'off' },
  },
  {
    env: 'KFRM_INTERNAL_TLS_CERT_FILE',
    form: 'file',
    what: 'this service’s internal certificate (mTLS of the edge and internal listeners; its identity to other services)',
    when: { env: 'KFRM_EDGE_LISTEN', isOn: true },
  },
  {
    env: 'KFRM_INTERNAL_TLS_KEY_FILE',
    form: 'file',
    what: 'this service’s internal private key (mTLS of the edge and internal listeners)',
    when: { env: 'KFRM_EDGE_LISTEN', isOn: true },
  },
  {
    env: 'KFRM_INTERNAL_CA_CERT_FILE',
    form: 'file',
    what: 'internal CA certificate (authenticates the edge and the other services)',
    when: { env: 'KFRM_EDGE_LISTEN', isOn: true },
  },
];

export function conditionHolds(condition: EnvCondition, env: Env): boolean {
  const value = env[condition.env]?.trim() ?? '';
  if ('is' in condition) return value === condition.is;
  if ('isNot' in condition) return value !== condition.isNot;
  return value !== '' && value !== 'off';
}

/** Whether a process with this environment reads the variable at all. */
export function secretApplies(secret: SecretDeclaration, env: Env): boolean {
  return !secret.when || conditionHolds(secret.when, env);
}

/** Whether a process with this environment cannot start without the variable. */
export function secretRequired(secret: SecretDeclaration, env: Env): boolean {
  return secretApplies(secret, env) && !secret.optional && !(secret.unless && conditionHolds(secret.unless, env));
}

function describe(condition: EnvCondition): string {
  if ('is' in condition) return `${condition.env}=${condition.is}`;
  return condition.env;
}

function describeCondition(secret: SecretDeclaration): string {
  const parts: string[] = [];
  if (secret.unless) parts.push(`unless ${describe(secret.unless)}`);
  if (secret.when) parts.push('isNot' in secret.when ? `unless ${secret.when.env}=${secret.when.isNot}` : `with ${describe(secret.when)}`);
  return parts.length > 0 ? ` ${parts.join(' ')}` : '';
}

/** Every declaration of a process running these modules, once per variable (the first wins). */
export function processSecretDeclarations(modules: readonly { secrets?: readonly SecretDeclaration[] }[]): SecretDeclaration[] {
  const byEnv = new Map<string, SecretDeclaration>();
  for (const secret of [...RUNTIME_SECRETS, ...modules.flatMap((m) => m.secrets ?? [])]) {
    const known = byEnv.get(secret.env);
    // Two modules in one process may both read a variable; it is required if either requires it.
    if (!known) byEnv.set(secret.env, secret);
    else if (known.optional && !secret.optional) byEnv.set(secret.env, secret);
  }
  return [...byEnv.values()];
}

/**
 * The problems of a real-mode process's secrets: a required variable unset, or a file variable
 * naming a file this process cannot read. Empty in the embedded default (no DATABASE_URL), where
 * development keys are generated.
 */
export function processSecretProblems(modules: readonly { name: string; secrets?: readonly SecretDeclaration[] }[], env: Env): string[] {
  if (!env['DATABASE_URL']?.trim()) return [];
  const owners = (name: string) =>
    modules
      .filter((m) => m.secrets?.some((s) => s.env === name))
      .map((m) => m.name)
      .join(', ') || 'every service';
  const problems: string[] = [];
  for (const secret of processSecretDeclarations(modules)) {
    if (!secretApplies(secret, env)) continue;
    const value = env[secret.env]?.trim();
    if (!value) {
      if (secretRequired(secret, env))
        problems.push(`${secret.env} is required by ${owners(secret.env)} (${secret.what})${describeCondition(secret)}`);
      continue;
    }
    if (secret.form !== 'file') continue;
    try {
      if (!statSync(value).isFile()) throw new Error('not a file');
      accessSync(value, constants.R_OK);
    } catch {
      problems.push(`${secret.env}=${value} is not a readable file (${secret.what})`);
    }
  }
  return problems;
}

/** Throws one ConfigError listing every problem at once. */
export function checkProcessSecrets(modules: readonly { name: string; secrets?: readonly SecretDeclaration[] }[], env: Env): void {
  const problems = processSecretProblems(modules, env);
  if (problems.length > 0) throw new ConfigError(problems);
}
