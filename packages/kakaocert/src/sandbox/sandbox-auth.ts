/**
 * The sandbox's side of Linkhub authentication: checks the token request signature and the
 * x-kc-auth of service POSTs, and issues and checks session tokens. Written apart from the
 * client's signing code on purpose, from docs/external-apis.md, so that a mistake in one is not
 * mirrored by the other.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SandboxErrorName } from './sandbox-error-codes';

export interface SandboxToken {
  sessionToken: string;
  linkId: string;
  clientCode: string;
  scope: string[];
  expiresAtMs: number;
}

type Headers = Record<string, string | string[] | undefined>;
type Check<T> = { ok: true; value: T } | { ok: false; error: SandboxErrorName };

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function hmac(secretKeyBase64: string, text: string): string {
  return createHmac('sha256', Buffer.from(secretKeyBase64, 'base64')).update(text, 'utf8').digest('base64');
}

function bodyDigest(body: Buffer): string {
  return createHash('sha256').update(body).digest('base64');
}

export class SandboxAuth {
  private readonly tokens = new Map<string, SandboxToken>();

  constructor(
    private readonly options: {
      credentials: Map<string, string>;
      clock: () => number;
      tokenTtlMs: number;
      dateSkewMs: number;
    },
  ) {}

  private checkDate(headers: Headers): Check<string> {
    if (header(headers, 'x-lh-version') !== '2.0') return { ok: false, error: 'AUTH_VERSION_UNSUPPORTED' };
    const xDate = header(headers, 'x-lh-date');
    const at = xDate ? Date.parse(xDate) : NaN;
    if (!xDate || Number.isNaN(at) || Math.abs(at - this.options.clock()) > this.options.dateSkewMs) {
      return { ok: false, error: 'AUTH_DATE_INVALID' };
    }
    return { ok: true, value: xDate };
  }

  /** POST /KAKAOCERT/Token: returns the LinkID whose signature matched. */
  checkTokenRequest(headers: Headers, uri: string, body: Buffer): Check<string> {
    const date = this.checkDate(headers);
    if (!date.ok) return date;
    const match = /^LINKHUB (\S+) (\S+)$/.exec(header(headers, 'authorization') ?? '');
    if (!match) return { ok: false, error: 'AUTH_HEADER_INVALID' };
    const [, linkId, signature] = match as unknown as [string, string, string];
    const secretKey = this.options.credentials.get(linkId);
    if (secretKey === undefined) return { ok: false, error: 'AUTH_LINK_ID_UNKNOWN' };
    const forwarded = header(headers, 'x-lh-forwarded');
    const target = `POST\n${bodyDigest(body)}\n${date.value}\n${forwarded ? `${forwarded}\n` : ''}2.0\n${uri}`;
    if (!sameText(signature, hmac(secretKey, target))) return { ok: false, error: 'AUTH_SIGNATURE_MISMATCH' };
    return { ok: true, value: linkId };
  }

  issue(linkId: string, clientCode: string, scope: string[]): SandboxToken {
    const token: SandboxToken = {
      sessionToken: randomBytes(24).toString('base64url'),
      linkId,
      clientCode,
      scope,
      expiresAtMs: this.options.clock() + this.options.tokenTtlMs,
    };
    this.tokens.set(token.sessionToken, token);
    return token;
  }

  /** Bearer token of a service call; for POSTs also x-kc-auth over the body. */
  checkServiceCall(headers: Headers, method: string, body: Buffer): Check<SandboxToken> {
    const bearer = /^Bearer (\S+)$/.exec(header(headers, 'authorization') ?? '');
    if (!bearer) return { ok: false, error: 'TOKEN_MISSING' };
    const token = this.tokens.get(bearer[1]!);
    if (!token) return { ok: false, error: 'TOKEN_INVALID' };
    if (this.options.clock() >= token.expiresAtMs) {
      this.tokens.delete(token.sessionToken);
      return { ok: false, error: 'TOKEN_EXPIRED' };
    }
    // ASSUMPTION: scope 310 is the CMS service (the SDK asks for 310, 320 and 330).
    if (!token.scope.includes('310')) return { ok: false, error: 'TOKEN_SCOPE' };
    if (method === 'POST') {
      const date = this.checkDate(headers);
      if (!date.ok) return date;
      const kcAuth = /^(\S+) (\S+)$/.exec(header(headers, 'x-kc-auth') ?? '');
      if (!kcAuth || kcAuth[1] !== token.linkId) return { ok: false, error: 'KC_AUTH_INVALID' };
      const secretKey = this.options.credentials.get(token.linkId) ?? '';
      const expected = hmac(secretKey, `POST\n${bodyDigest(body)}\n${date.value}\n2.0\n`);
      if (!sameText(kcAuth[2]!, expected)) return { ok: false, error: 'KC_AUTH_INVALID' };
    }
    return { ok: true, value: token };
  }

  /** Every live session token (tests assert that none reaches a log). */
  issuedTokens(): string[] {
    return [...this.tokens.keys()];
  }

  revokeAll(): void {
    this.tokens.clear();
  }
}
