// `pnpm operator-token --role teller [--role kyc-reviewer …] [--sub alice] [--ttl-minutes 15]`:
// prints an operator token of the embedded default's local issuer (the key pair in
// ${KFRM_DATA_DIR:-.data}/operator-issuer, made by the backend's first start or by this command),
// for the internal listener's operator methods (docs/operators.md):
//
//   grpcurl -plaintext -H "authorization: Bearer $(pnpm -s operator-token --role teller)" …
//
// Compose and Kubernetes trust the identity provider (Keycloak) instead: get a token there.
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { mintLocalOperatorToken } from '@kfrm/runtime';
import { isOperatorRole, OPERATOR_ROLES, type OperatorRole } from '@kfrm/server-kit';

const USAGE = `usage: pnpm operator-token --role <${OPERATOR_ROLES.join('|')}> [--role …] [--sub <operator id>] [--ttl-minutes <1..480>]`;
/** An operator's subject: an id, not a name or an e-mail (it lands in the audit log). */
const SUBJECT = /^[A-Za-z0-9._-]{1,64}$/;

export async function runOperatorToken(argv: string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  let values: { role?: string[]; sub?: string; 'ttl-minutes'?: string };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { role: { type: 'string', multiple: true }, sub: { type: 'string' }, 'ttl-minutes': { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  const roles = values.role ?? [];
  const unknown = roles.filter((r) => !isOperatorRole(r));
  if (roles.length === 0 || unknown.length > 0) {
    console.error(`${unknown.length > 0 ? `unknown role ${unknown.join(', ')}\n` : ''}${USAGE}`);
    return 2;
  }
  const subject = values.sub ?? 'local-operator';
  const ttlMinutes = Number(values['ttl-minutes'] ?? '15');
  if (!SUBJECT.test(subject) || !Number.isInteger(ttlMinutes) || ttlMinutes < 1 || ttlMinutes > 480) {
    console.error(USAGE);
    return 2;
  }
  const issuerDir = join(resolve(env.KFRM_DATA_DIR || '.data'), 'operator-issuer');
  const token = await mintLocalOperatorToken(issuerDir, { roles: roles as OperatorRole[], subject, ttlSeconds: ttlMinutes * 60 });
  process.stdout.write(`${token}\n`);
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await runOperatorToken(process.argv.slice(2));
}
