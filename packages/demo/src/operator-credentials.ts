import { access } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { mintLocalOperatorToken } from '@kfrm/runtime/operator-issuer';

export interface DemoOperators {
  /** Approves KYC and makes the deposit (roles kyc-reviewer and teller). */
  operatorToken: string;
  /** A second person who approves a deposit above the approval threshold (role teller). */
  approverToken: string;
  /** Where they came from, for the run's header line. */
  source: string;
}

const ISSUER_KEY = join('operator-issuer', 'signing-key.jwk.json');

/**
 * The demo's operator credentials. Given tokens win (`--operator-token` / KFRM_OPERATOR_TOKEN,
 * `--approver-token` / KFRM_OPERATOR_APPROVER_TOKEN: compose and Kubernetes, from the identity
 * provider). Otherwise the demo finds the embedded default's local issuer by itself — in the data
 * directory the CA file is in (`<data dir>/tls/server-ca.pem`, so `--ca` alone is enough), in
 * KFRM_DATA_DIR, or in .data — and mints two short-lived tokens: two different operators, as
 * maker-checker wants.
 */
export async function findDemoOperators(
  options: { caFile: string; operatorToken?: string; approverToken?: string },
  env: Record<string, string | undefined>,
): Promise<DemoOperators> {
  if (options.operatorToken) {
    return {
      operatorToken: options.operatorToken,
      approverToken: options.approverToken ?? options.operatorToken,
      source: options.approverToken ? 'operator and approver tokens given' : 'operator token given',
    };
  }
  const candidates = [
    dirname(dirname(resolve(options.caFile))),
    ...(env.KFRM_DATA_DIR ? [resolve(env.KFRM_DATA_DIR)] : []),
    resolve('.data'),
  ];
  for (const dataDir of candidates) {
    try {
      await access(join(dataDir, ISSUER_KEY));
    } catch {
      continue;
    }
    const issuerDir = join(dataDir, 'operator-issuer');
    return {
      operatorToken: await mintLocalOperatorToken(issuerDir, { roles: ['kyc-reviewer', 'teller'], subject: 'demo-operator' }),
      approverToken: options.approverToken ?? (await mintLocalOperatorToken(issuerDir, { roles: ['teller'], subject: 'demo-approver' })),
      source: `local operator issuer in ${dataDir}`,
    };
  }
  throw new Error(
    `no operator credentials: no local operator issuer in ${[...new Set(candidates)].join(', ')} ` +
      '(the embedded default makes one in its data directory); against compose or Kubernetes pass --operator-token ' +
      '(and --approver-token) or set KFRM_OPERATOR_TOKEN (docs/operators.md)',
  );
}
