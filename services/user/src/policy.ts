/**
 * Authentication policies: which factors a transaction needs, decided by data in Postgres
 * (`authentication_policies`), not by code. This file holds the policy language (parse and
 * evaluate) and nothing else: no SQL, no gRPC.
 *
 * A condition is JSON:
 *   { "all": [c, …] }  every one holds (an empty list holds)
 *   { "any": [c, …] }  at least one holds (an empty list does not)
 *   { "not": c }
 *   { "path": "amount.major_amount", "op": ">=", "value": 1000000 }
 *   null (the column) = always
 * `op` is one of == != < <= > >= in exists. `path` is dot-separated keys (letters, digits, _)
 * or array indices, looked up in the transaction context's own properties only.
 *
 * Comparison rules (strict on purpose: a context that does not say something clearly matches
 * nothing, and the caller gets AUTHENTICATION_POLICY_NOT_FOUND instead of a weaker policy):
 * - a missing path (or null) makes every op false except that `exists` is false too;
 * - integers compare exactly as BigInt: a JSON integer within ±2^53 or a decimal string
 *   ("1000000", as proto JSON writes int64) on either side; floats and larger JSON numbers are
 *   not numbers here, so < <= > >= are false for them;
 * - == and != compare integers numerically, strings, booleans by value; != is false when the
 *   path is missing; `in` takes a list of such values.
 */
import { InvalidArgumentError } from '@kfrm/errors';

export const MAX_CONTEXT_BYTES = 4096;
const MAX_CONDITION_DEPTH = 8;
const MAX_CONDITION_NODES = 64;
const MAX_PATH_SEGMENTS = 8;
const SEGMENT = /^(?:[A-Za-z_][A-Za-z0-9_]{0,63}|0|[1-9][0-9]{0,5})$/;
const INTEGER_STRING = /^-?(?:0|[1-9][0-9]{0,29})$/;

export type ComparisonOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | 'in' | 'exists';
const OPS: ReadonlySet<string> = new Set(['==', '!=', '<', '<=', '>', '>=', 'in', 'exists']);

type Scalar = string | number | boolean;

export type Condition =
  | { all: Condition[] }
  | { any: Condition[] }
  | { not: Condition }
  | { path: string[]; op: ComparisonOp; value: Scalar | Scalar[] | undefined };

export type FactorType = 'PIN' | 'PATTERN' | 'BIO';
export type FallbackType = FactorType | 'NONE';
export interface RequiredAuthentication {
  type: FactorType;
  fallback: FallbackType;
}

/** A policy row whose condition or factor list is not valid: a data error, so fail closed. */
export class InvalidPolicyError extends Error {
  override name = 'InvalidPolicyError';
}

function isScalar(value: unknown): value is Scalar {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

/** Parses a stored condition (already JSON-decoded); throws InvalidPolicyError when malformed. */
export function parseCondition(raw: unknown): Condition | null {
  if (raw === null || raw === undefined) return null;
  let nodes = 0;
  const walk = (node: unknown, depth: number): Condition => {
    if (++nodes > MAX_CONDITION_NODES) throw new InvalidPolicyError('condition has too many nodes');
    if (depth > MAX_CONDITION_DEPTH) throw new InvalidPolicyError('condition is nested too deeply');
    if (typeof node !== 'object' || node === null || Array.isArray(node)) throw new InvalidPolicyError('condition must be an object');
    const keys = Object.keys(node);
    const record = node as Record<string, unknown>;
    if (keys.length === 1 && (keys[0] === 'all' || keys[0] === 'any')) {
      const list = record[keys[0]];
      if (!Array.isArray(list)) throw new InvalidPolicyError(`${keys[0]} takes a list`);
      const children = list.map((child) => walk(child, depth + 1));
      return keys[0] === 'all' ? { all: children } : { any: children };
    }
    if (keys.length === 1 && keys[0] === 'not') return { not: walk(record.not, depth + 1) };
    const { path, op, value } = record;
    if (keys.some((k) => k !== 'path' && k !== 'op' && k !== 'value')) throw new InvalidPolicyError(`unknown keys in ${keys.join(',')}`);
    if (typeof path !== 'string') throw new InvalidPolicyError('path must be a string');
    const segments = path.split('.');
    if (segments.length > MAX_PATH_SEGMENTS || !segments.every((s) => SEGMENT.test(s))) throw new InvalidPolicyError(`bad path ${path}`);
    if (typeof op !== 'string' || !OPS.has(op)) throw new InvalidPolicyError(`unknown op ${String(op)}`);
    if (op === 'exists') {
      if (value !== undefined) throw new InvalidPolicyError('exists takes no value');
      return { path: segments, op, value: undefined };
    }
    if (op === 'in') {
      if (!Array.isArray(value) || !value.every(isScalar)) throw new InvalidPolicyError('in takes a list of values');
      return { path: segments, op, value };
    }
    if (!isScalar(value)) throw new InvalidPolicyError(`${op} takes a string, number or boolean`);
    if (['<', '<=', '>', '>='].includes(op) && toInteger(value) === undefined) throw new InvalidPolicyError(`${op} takes an integer`);
    return { path: segments, op: op as ComparisonOp, value };
  };
  return walk(raw, 0);
}

const FACTORS: ReadonlySet<string> = new Set(['PIN', 'PATTERN', 'BIO']);

/** Parses a stored factor list; throws InvalidPolicyError when malformed. An empty list is valid. */
export function parseRequiredAuthentications(raw: unknown): RequiredAuthentication[] {
  if (!Array.isArray(raw) || raw.length > 8) throw new InvalidPolicyError('authentications must be a list of at most 8');
  return raw.map((item: unknown) => {
    const { type, fallback } = (item ?? {}) as Record<string, unknown>;
    if (typeof type !== 'string' || !FACTORS.has(type)) throw new InvalidPolicyError(`unknown authentication type ${String(type)}`);
    const fb = fallback ?? 'NONE';
    if (typeof fb !== 'string' || (fb !== 'NONE' && !FACTORS.has(fb)) || fb === type)
      throw new InvalidPolicyError(`bad fallback ${String(fb)}`);
    return { type: type as FactorType, fallback: fb as FallbackType };
  });
}

/**
 * The caller's transaction context: a JSON object of at most 4 KiB (UTF-8). An empty string is
 * taken as `{}`. Anything else is INVALID_ARGUMENT.
 */
export function parseTransactionContext(text: string): Record<string, unknown> {
  if (Buffer.byteLength(text, 'utf8') > MAX_CONTEXT_BYTES) throw new InvalidArgumentError('transaction_context is larger than 4 KiB');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new InvalidArgumentError('transaction_context is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new InvalidArgumentError('transaction_context must be a JSON object');
  return parsed as Record<string, unknown>;
}

function toInteger(value: unknown): bigint | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? BigInt(value) : undefined;
  if (typeof value === 'string' && INTEGER_STRING.test(value)) return BigInt(value);
  return undefined;
}

function lookup(context: unknown, path: string[]): unknown {
  let current: unknown = context;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    if (Array.isArray(current)) {
      if (!/^\d+$/.test(segment)) return undefined;
      current = current[Number(segment)];
    } else {
      if (!Object.hasOwn(current, segment)) return undefined;
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return current;
}

function equals(actual: unknown, expected: Scalar): boolean {
  const a = toInteger(actual);
  const b = toInteger(expected);
  if (a !== undefined && b !== undefined) return a === b;
  if (typeof expected === 'number' || typeof actual === 'number') return false;
  return actual === expected;
}

export function evaluateCondition(condition: Condition | null, context: unknown): boolean {
  if (condition === null) return true;
  if ('all' in condition) return condition.all.every((c) => evaluateCondition(c, context));
  if ('any' in condition) return condition.any.some((c) => evaluateCondition(c, context));
  if ('not' in condition) return !evaluateCondition(condition.not, context);
  const actual = lookup(context, condition.path);
  if (actual === undefined || actual === null) return false;
  const { op, value } = condition;
  switch (op) {
    case 'exists':
      return true;
    case 'in':
      return isScalar(actual) && (value as Scalar[]).some((v) => equals(actual, v));
    case '==':
      return isScalar(actual) && equals(actual, value as Scalar);
    case '!=':
      return isScalar(actual) && !equals(actual, value as Scalar);
    default: {
      const a = toInteger(actual);
      const b = toInteger(value);
      if (a === undefined || b === undefined) return false;
      if (op === '<') return a < b;
      if (op === '<=') return a <= b;
      if (op === '>') return a > b;
      return a >= b;
    }
  }
}

export interface PolicyCandidate {
  id: string;
  priority: number;
  condition: unknown;
  authentications: unknown;
}

export interface SelectedPolicy {
  id: string;
  authentications: RequiredAuthentication[];
}

/**
 * The first policy, by ascending priority, whose condition holds for the context; undefined when
 * none does. Policies are parsed as they are reached, so a malformed one fails the call (closed)
 * instead of being skipped in favour of a weaker one.
 */
export function selectPolicy(candidates: readonly PolicyCandidate[], context: unknown): SelectedPolicy | undefined {
  const ordered = [...candidates].sort((a, b) => a.priority - b.priority);
  for (const candidate of ordered) {
    const condition = parseCondition(candidate.condition);
    if (evaluateCondition(condition, context)) {
      return { id: candidate.id, authentications: parseRequiredAuthentications(candidate.authentications) };
    }
  }
  return undefined;
}
