import { parseArgs } from 'node:util';

export interface CliOptions {
  /** host:port of the mobile listener (TLS). */
  address: string;
  /** host:port of the internal listener (plaintext), for the operator's deposit. */
  internalAddress: string;
  /** PEM file of the CA that signed the server certificate. */
  caFile: string;
  depositKrw: bigint;
  transferKrw: bigint;
  notificationTimeoutMs: number;
  /** An operator's token (compose, Kubernetes); unset: minted with the embedded default's local issuer. */
  operatorToken?: string;
  /** A second operator's token, for approvals (maker-checker); unset: as operatorToken. */
  approverToken?: string;
  help: boolean;
}

export const USAGE = `pnpm demo [options]

Plays two phones (Alice and Bob) against a running backend: device certificates, E2E keys,
sign-up, login, CASA opening, an operator deposit, a signed transfer and its notifications.

Options (environment variable in brackets):
  --address <host:port>           mobile listener, TLS            [KFRM_DEMO_ADDRESS]          default 127.0.0.1:50051
  --internal-address <host:port>  operator address, plaintext     [KFRM_DEMO_INTERNAL_ADDRESS] default 127.0.0.1:50052
                                  (pnpm start: its internal listener; start:split and compose:
                                  the edge's operator address, routing to every service)
  --ca <file>                     server CA certificate (PEM)     [KFRM_DEMO_CA_FILE]          default $KFRM_DATA_DIR/tls/server-ca.pem (.data)
                                  (docker compose: deploy/dev-secrets/server-ca.pem)
  --deposit <won>                 operator deposit to Alice       [KFRM_DEMO_DEPOSIT_KRW]      default 3000000
  --amount <won>                  Alice → Bob transfer            [KFRM_DEMO_TRANSFER_KRW]     default 1200000
                                  (1,000,000 KRW or more asks PIN and biometric, less asks one)
  --notification-timeout <ms>     wait for the notifications      [KFRM_DEMO_NOTIFICATION_TIMEOUT_MS] default 15000
  --operator-token <jwt>          operator (kyc-reviewer, teller) [KFRM_OPERATOR_TOKEN]
  --approver-token <jwt>          second operator (teller), approves the deposit [KFRM_OPERATOR_APPROVER_TOKEN]
                                  (default: minted with the embedded default's local issuer, found in
                                  the data directory next to --ca, KFRM_DATA_DIR or .data; compose and
                                  Kubernetes: tokens from the identity provider, docs/operators.md)
  -h, --help

Exit code 0 when every step succeeded, 1 when a step failed, 2 for bad options.`;

export class UsageError extends Error {}

function positiveWon(text: string, what: string): bigint {
  if (!/^[1-9][0-9]{0,17}$/.test(text)) throw new UsageError(`${what} must be a whole number of won above 0: ${text}`);
  return BigInt(text);
}

const nonEmpty = (text: string | undefined) => (text && text.trim() !== '' ? text.trim() : undefined);

function hostPort(text: string, what: string): string {
  if (!/^[^\s:]+:[0-9]{1,5}$/.test(text) && !/^\[[0-9a-fA-F:]+\]:[0-9]{1,5}$/.test(text))
    throw new UsageError(`${what} must be host:port: ${text}`);
  return text;
}

/** Options from the command line, then the environment, then the embedded default's values. */
export function parseOptions(argv: string[], env: Record<string, string | undefined>): CliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        address: { type: 'string' },
        'internal-address': { type: 'string' },
        ca: { type: 'string' },
        deposit: { type: 'string' },
        amount: { type: 'string' },
        'notification-timeout': { type: 'string' },
        'operator-token': { type: 'string' },
        'approver-token': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const timeout = values['notification-timeout'] ?? env.KFRM_DEMO_NOTIFICATION_TIMEOUT_MS ?? '15000';
  if (!/^[0-9]{1,7}$/.test(timeout) || Number(timeout) === 0)
    throw new UsageError(`the notification timeout must be milliseconds above 0: ${timeout}`);
  const options: CliOptions = {
    address: hostPort(values.address ?? env.KFRM_DEMO_ADDRESS ?? '127.0.0.1:50051', 'the address'),
    internalAddress: hostPort(values['internal-address'] ?? env.KFRM_DEMO_INTERNAL_ADDRESS ?? '127.0.0.1:50052', 'the internal address'),
    // Where `pnpm start` writes it: the same data directory, so a KFRM_DATA_DIR set for both works.
    caFile: values.ca ?? env.KFRM_DEMO_CA_FILE ?? `${env.KFRM_DATA_DIR || '.data'}/tls/server-ca.pem`,
    depositKrw: positiveWon(values.deposit ?? env.KFRM_DEMO_DEPOSIT_KRW ?? '3000000', 'the deposit'),
    transferKrw: positiveWon(values.amount ?? env.KFRM_DEMO_TRANSFER_KRW ?? '1200000', 'the transfer amount'),
    notificationTimeoutMs: Number(timeout),
    operatorToken: nonEmpty(values['operator-token'] ?? env.KFRM_OPERATOR_TOKEN),
    approverToken: nonEmpty(values['approver-token'] ?? env.KFRM_OPERATOR_APPROVER_TOKEN),
    help: values.help ?? false,
  };
  return options;
}
