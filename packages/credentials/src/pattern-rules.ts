/**
 * The rules a new unlock pattern must pass at registration (and at a pattern change).
 *
 * Encoding: the app sends the pattern as a string of node indices in the order they were
 * drawn, one ASCII digit per node, on a 3×3 grid numbered row by row from the top left:
 *
 *     0 1 2
 *     3 4 5        "03678" is an L: down the left column, then along the bottom row.
 *     6 7 8
 *
 * INVALID_USER_PATTERN — anything an Android-style pattern lock cannot produce:
 *   - a character other than '0'–'8' (out-of-range node, separators, whitespace);
 *   - fewer than 4 nodes (more than 9 is impossible without a repeat);
 *   - a node visited twice;
 *   - a move that passes straight over a node not yet visited (0→2 over 1, 0→8 over 4, 3→5 over 4,
 *     …): the lock screen would have picked that node up on the way, so such a sequence never
 *     comes from a real app. Passing over an already visited node is allowed (1 0 2 is fine).
 *     Knight-like moves (0→5, 0→7) pass over no node and are allowed.
 *
 * WEAK_USER_PATTERN — a valid pattern from the head of the distribution (Løge 2015, Uellenbeck
 * et al. 2013: most people draw 4–5 nodes, start in a corner and draw letters):
 *   1. `short-simple`  exactly 4 nodes with at most one change of direction (0125, 0367, 0482).
 *   2. `common-shape`  one of {@link COMMON_PATTERN_SHAPES}, in any of the 8 rotations and
 *                      reflections of the grid and drawn in either direction. Together these are
 *                      the letters and outlines users draw most: L, a 2×2 square, 7, C/U, Z/N,
 *                      M/W, S (the snake over all rows) and the full outer square.
 */

export type PatternCheckResult = 'ok' | 'INVALID_USER_PATTERN' | 'WEAK_USER_PATTERN';
export type PatternWeakness = 'short-simple' | 'common-shape';
export type PatternEvaluation =
  | { result: 'ok' }
  | { result: 'INVALID_USER_PATTERN' }
  | { result: 'WEAK_USER_PATTERN'; rule: PatternWeakness };

export const PATTERN_MIN_NODES = 4;

/** One representative of each well-known shape; every symmetric variant is weak too. */
export const COMMON_PATTERN_SHAPES: Readonly<Record<string, string>> = {
  L: '03678',
  'small square': '0143',
  seven: '01246',
  C: '2103678',
  Z: '0124678',
  M: '6304258',
  N: '6304852',
  S: '012543678',
  'outer square': '01258763',
};

/** 'ok', or the seed error code to answer with. */
export function checkPattern(pattern: string): PatternCheckResult {
  return evaluatePattern(pattern).result;
}

/** Like {@link checkPattern}, and names the rule that made a pattern weak. */
export function evaluatePattern(pattern: string): PatternEvaluation {
  const nodes = parsePattern(pattern);
  if (!nodes) return { result: 'INVALID_USER_PATTERN' };
  if (nodes.length === PATTERN_MIN_NODES && directionChanges(nodes) <= 1) {
    return { result: 'WEAK_USER_PATTERN', rule: 'short-simple' };
  }
  if (WEAK_SHAPES.has(nodes.join(''))) return { result: 'WEAK_USER_PATTERN', rule: 'common-shape' };
  return { result: 'ok' };
}

/** The node list of a valid pattern, or undefined when the pattern is invalid. */
export function parsePattern(pattern: string): number[] | undefined {
  if (typeof pattern !== 'string' || !/^[0-8]{4,9}$/.test(pattern)) return undefined;
  const nodes = [...pattern].map(Number);
  const visited = new Set<number>();
  for (let i = 0; i < nodes.length; i++) {
    const node = nodes[i]!;
    if (visited.has(node)) return undefined;
    if (i > 0) {
      const over = nodeBetween(nodes[i - 1]!, node);
      if (over !== undefined && !visited.has(over)) return undefined;
    }
    visited.add(node);
  }
  return nodes;
}

const row = (n: number): number => Math.floor(n / 3);
const col = (n: number): number => n % 3;

/** The node exactly halfway between two nodes, if there is one (both offsets even). */
function nodeBetween(a: number, b: number): number | undefined {
  const dr = row(b) - row(a);
  const dc = col(b) - col(a);
  if (dr % 2 !== 0 || dc % 2 !== 0) return undefined;
  return (row(a) + dr / 2) * 3 + (col(a) + dc / 2);
}

function gcd(a: number, b: number): number {
  return b === 0 ? Math.abs(a) : gcd(b, a % b);
}

function directionChanges(nodes: number[]): number {
  let changes = 0;
  let previous: string | undefined;
  for (let i = 1; i < nodes.length; i++) {
    const dr = row(nodes[i]!) - row(nodes[i - 1]!);
    const dc = col(nodes[i]!) - col(nodes[i - 1]!);
    const g = gcd(dr, dc);
    const direction = `${dr / g},${dc / g}`;
    if (previous !== undefined && direction !== previous) changes++;
    previous = direction;
  }
  return changes;
}

/** The 8 symmetries of the square, as maps on (row, col) with rows and cols in 0..2. */
const SYMMETRIES: ReadonlyArray<(r: number, c: number) => [number, number]> = [
  (r, c) => [r, c],
  (r, c) => [c, 2 - r],
  (r, c) => [2 - r, 2 - c],
  (r, c) => [2 - c, r],
  (r, c) => [r, 2 - c],
  (r, c) => [2 - r, c],
  (r, c) => [c, r],
  (r, c) => [2 - c, 2 - r],
];

const WEAK_SHAPES: ReadonlySet<string> = (() => {
  const variants = new Set<string>();
  for (const shape of Object.values(COMMON_PATTERN_SHAPES)) {
    const nodes = [...shape].map(Number);
    for (const map of SYMMETRIES) {
      const mapped = nodes.map((n) => {
        const [r, c] = map(row(n), col(n));
        return r * 3 + c;
      });
      variants.add(mapped.join(''));
      variants.add([...mapped].reverse().join(''));
    }
  }
  return variants;
})();
