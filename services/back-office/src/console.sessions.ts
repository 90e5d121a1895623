import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { OperatorRole } from '@kfrm/server-kit';

/** The operator a session belongs to, from a token that verified at sign-in. */
export interface SignedInOperator {
  /** The bearer token every console call carries; never logged, never sent to the browser. */
  token: string;
  subject: string;
  roles: OperatorRole[];
  /** The token's `exp`: the session ends with it. */
  expiresAt: Date;
}

/** An OIDC sign-in under way (authorization-code flow with PKCE). */
export interface PendingLogin {
  state: string;
  nonce: string;
  codeVerifier: string;
  startedAt: Date;
}

export interface ConsoleSession {
  id: string;
  /** Bound to the session; every POST must carry it (hidden `_csrf` field). */
  csrf: string;
  operator?: SignedInOperator;
  lastSeen: Date;
  /** The outcome of the last POST, shown once by the page it redirected to. */
  flash?: { tone: 'ok' | 'warn' | 'err'; text: string };
}

export interface SessionOptions {
  /** Idle time after which a session is forgotten. */
  idleMs: number;
  now?: () => Date;
  /** At most this many sessions (anonymous ones first to go); a flood cannot grow memory without bound. */
  maxSessions?: number;
}

const newId = () => randomBytes(32).toString('base64url');

/**
 * Console sessions, in this process's memory: the operator's token stays on the server (the
 * browser holds only a random id in an HttpOnly cookie). One replica, or sticky sessions, per
 * deployment (docs/back-office.md); a restart signs everyone out, which is the safe direction.
 */
export function createSessionStore(options: SessionOptions) {
  const now = options.now ?? (() => new Date());
  const maxSessions = options.maxSessions ?? 10_000;
  const sessions = new Map<string, ConsoleSession>();
  const logins = new Map<string, PendingLogin>();
  const LOGIN_TTL_MS = 10 * 60_000;

  const expired = (s: ConsoleSession, at: Date) =>
    at.getTime() - s.lastSeen.getTime() > options.idleMs || (s.operator !== undefined && s.operator.expiresAt <= at);

  function prune(at: Date) {
    for (const [id, s] of sessions) if (expired(s, at)) sessions.delete(id);
    for (const [id, l] of logins) if (at.getTime() - l.startedAt.getTime() > LOGIN_TTL_MS) logins.delete(id);
    if (sessions.size >= maxSessions) {
      for (const [id, s] of sessions) {
        if (sessions.size < maxSessions) break;
        if (!s.operator) sessions.delete(id);
      }
    }
  }

  return {
    /** The live session with this id (its idle clock restarted), else undefined. */
    get(id: string | undefined): ConsoleSession | undefined {
      if (!id) return undefined;
      const s = sessions.get(id);
      const at = now();
      if (!s) return undefined;
      if (expired(s, at)) {
        sessions.delete(id);
        return undefined;
      }
      s.lastSeen = at;
      return s;
    },
    /** A new anonymous session (for the sign-in form's CSRF token). */
    create(): ConsoleSession {
      const at = now();
      prune(at);
      const s: ConsoleSession = { id: newId(), csrf: newId(), lastSeen: at };
      sessions.set(s.id, s);
      return s;
    },
    /** Signing in replaces the session (new id, new CSRF token): a planted id is worth nothing. */
    signIn(previous: ConsoleSession | undefined, operator: SignedInOperator): ConsoleSession {
      if (previous) sessions.delete(previous.id);
      const s: ConsoleSession = { id: newId(), csrf: newId(), operator, lastSeen: now() };
      sessions.set(s.id, s);
      return s;
    },
    end(id: string): void {
      sessions.delete(id);
    },
    /** Remembers an OIDC sign-in under a fresh id (its own short-lived cookie). */
    startLogin(login: Omit<PendingLogin, 'startedAt'>): string {
      prune(now());
      const id = newId();
      logins.set(id, { ...login, startedAt: now() });
      return id;
    },
    /** The pending sign-in, once: a callback is never replayed. */
    takeLogin(id: string | undefined): PendingLogin | undefined {
      if (!id) return undefined;
      const login = logins.get(id);
      logins.delete(id);
      if (!login || now().getTime() - login.startedAt.getTime() > LOGIN_TTL_MS) return undefined;
      return login;
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;

/** Constant-time comparison of the form's CSRF token with the session's. */
export function csrfMatches(session: ConsoleSession, given: string | undefined): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(session.csrf);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
