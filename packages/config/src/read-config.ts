import { ConfigError } from './config-error';

/**
 * A tiny typed reader for environment configuration. Each field is a parser that names its
 * variable, so a bad value fails at start with the variable's name rather than deep inside a
 * request. `readConfig` collects every problem before throwing, so an operator fixes them all
 * in one go.
 */
export type Env = Record<string, string | undefined>;
export type Field<T> = (env: Env) => { ok: true; value: T } | { ok: false; problem: string };

export type ConfigOf<S extends Record<string, Field<unknown>>> = {
  [K in keyof S]: S[K] extends Field<infer T> ? T : never;
};

export function readConfig<S extends Record<string, Field<unknown>>>(spec: S, env: Env = process.env): ConfigOf<S> {
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(spec)) {
    const result = field(env);
    if (result.ok) out[key] = result.value;
    else problems.push(result.problem);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return out as ConfigOf<S>;
}

function raw(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

/** What a parser returns for a bad value: the rest of the sentence after the variable's name. */
class Problem {
  constructor(readonly text: string) {}
}
const problem = (text: string) => new Problem(text);

function field<T>(name: string, parse: (text: string) => T | Problem, fallback: { value: T } | undefined): Field<T> {
  return (env) => {
    const text = raw(env, name);
    if (text === undefined) {
      return fallback ? { ok: true, value: fallback.value } : { ok: false, problem: `${name} is required` };
    }
    const parsed = parse(text);
    if (parsed instanceof Problem) return { ok: false, problem: `${name} ${parsed.text}` };
    return { ok: true, value: parsed };
  };
}

type Default<T> = { default: T } | { optional: true } | Record<string, never>;

function fallbackOf<T>(opts: Default<T> | undefined): { value: T | undefined } | undefined {
  if (!opts) return undefined;
  if ('default' in opts) return { value: opts.default };
  if ('optional' in opts) return { value: undefined };
  return undefined;
}

export function str(name: string): Field<string>;
export function str(name: string, opts: { default: string }): Field<string>;
export function str(name: string, opts: { optional: true }): Field<string | undefined>;
export function str(name: string, opts?: Default<string>): Field<string | undefined> {
  return field<string | undefined>(name, (t) => t, fallbackOf(opts));
}

export function int(name: string, opts: { default: number; min?: number; max?: number }): Field<number> {
  return field(
    name,
    (t) => {
      if (!/^-?\d+$/.test(t)) return problem(`must be an integer, got "${t}"`);
      const n = Number(t);
      if (!Number.isSafeInteger(n)) return problem(`is out of range`);
      if (opts.min !== undefined && n < opts.min) return problem(`must be >= ${opts.min}, got ${n}`);
      if (opts.max !== undefined && n > opts.max) return problem(`must be <= ${opts.max}, got ${n}`);
      return n;
    },
    { value: opts.default },
  ) as Field<number>;
}

export function bool(name: string, opts: { default: boolean }): Field<boolean> {
  return field(
    name,
    (t) => {
      if (/^(1|true|yes|on)$/i.test(t)) return true;
      if (/^(0|false|no|off)$/i.test(t)) return false;
      return problem(`must be true or false, got "${t}"`);
    },
    { value: opts.default },
  ) as Field<boolean>;
}

export function oneOf<const T extends string>(name: string, values: readonly T[], opts: { default: T }): Field<T> {
  return field(
    name,
    (t) => ((values as readonly string[]).includes(t) ? (t as T) : problem(`must be one of ${values.join(', ')}, got "${t}"`)),
    {
      value: opts.default,
    },
  ) as Field<T>;
}

export function url(name: string, protocols: string[], opts: { optional: true }): Field<string | undefined>;
export function url(name: string, protocols: string[]): Field<string>;
export function url(name: string, protocols: string[], opts?: { optional: true }): Field<string | undefined> {
  return field<string | undefined>(
    name,
    (t) => {
      let parsed: URL;
      try {
        parsed = new URL(t);
      } catch {
        return problem(`must be a URL`);
      }
      if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) return problem(`must use ${protocols.join(' or ')}://`);
      return t;
    },
    fallbackOf(opts),
  );
}

export interface ListenAddress {
  host: string;
  port: number;
}

/**
 * host:port; port 0 asks the OS for a free port (tests). With `off: true` the value `off` turns
 * the listener off (undefined); with `optional: true` unset means no listener.
 */
export function listenAddress(name: string, opts: { default: string }): Field<ListenAddress>;
export function listenAddress(name: string, opts: { default: string; off: true }): Field<ListenAddress | undefined>;
export function listenAddress(name: string, opts: { optional: true }): Field<ListenAddress | undefined>;
export function listenAddress(name: string, opts: { default: string; off?: true } | { optional: true }): Field<ListenAddress | undefined> {
  const allowOff = 'off' in opts && opts.off === true;
  const parse = (t: string): ListenAddress | undefined | Problem => {
    if (allowOff && t === 'off') return undefined;
    const m = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(t);
    if (!m) return problem(allowOff ? `must be host:port or off, got "${t}"` : `must be host:port, got "${t}"`);
    const port = Number(m[2]);
    if (port > 65535) return problem(`port must be <= 65535`);
    return { host: m[1]!, port };
  };
  if ('optional' in opts) return field<ListenAddress | undefined>(name, parse, { value: undefined });
  const fallback = parse(opts.default);
  if (fallback instanceof Problem || fallback === undefined) throw new Error(`bad default for ${name}`);
  return field<ListenAddress | undefined>(name, parse, { value: fallback });
}
