import { describe, expect, it } from 'vitest';
import { checkPattern, COMMON_PATTERN_SHAPES, evaluatePattern, parsePattern } from './pattern-rules';

describe('checkPattern: INVALID_USER_PATTERN', () => {
  it.each([
    ['', 'empty'],
    ['012', 'three nodes: four is the minimum'],
    ['0129', 'node 9 is off the grid'],
    ['1234567890', 'ten nodes'],
    ['0-1-2-5', 'separators'],
    ['0 125', 'whitespace'],
    ['01a5', 'a letter'],
    ['01215', 'node 1 twice'],
  ])('%j (%s)', (pattern) => {
    expect(checkPattern(pattern)).toBe('INVALID_USER_PATTERN');
  });

  it('non-strings are invalid, not a crash', () => {
    expect(checkPattern(1234 as unknown as string)).toBe('INVALID_USER_PATTERN');
    expect(checkPattern(null as unknown as string)).toBe('INVALID_USER_PATTERN');
  });

  it.each([
    ['0245', '0→2 jumps over unvisited 1'],
    ['0813', '0→8 jumps over unvisited 4'],
    ['3501', '3→5 jumps over unvisited 4'],
    ['1735', '1→7 jumps over unvisited 4'],
    ['2614', '2→6 jumps over unvisited 4'],
    ['6051', '6→0 jumps over unvisited 3'],
    ['4782', '8→2 jumps over unvisited 5'],
    ['1605', '6→0 jumps over unvisited 3'],
  ])('%j (%s)', (pattern) => {
    expect(checkPattern(pattern)).toBe('INVALID_USER_PATTERN');
  });

  it('passing over a node already visited is allowed, as are knight moves', () => {
    expect(parsePattern('10257')).toEqual([1, 0, 2, 5, 7]); // 0→2 over visited 1
    expect(parsePattern('40837')).toEqual([4, 0, 8, 3, 7]); // 0→8 over visited 4
    expect(parsePattern('05163')).toEqual([0, 5, 1, 6, 3]); // knight moves
    expect(parsePattern('5182')).toEqual([5, 1, 8, 2]); // 1→8 is a knight move; 8→2 over visited 5
  });

  it('accepts exactly the 389,112 patterns an Android lock screen can draw', () => {
    let valid = 0;
    const walk = (prefix: string): void => {
      if (parsePattern(prefix)) valid++;
      if (prefix.length < 9) for (let n = 0; n < 9; n++) if (!prefix.includes(String(n))) walk(prefix + n);
    };
    walk('');
    expect(valid).toBe(389_112);
  });
});

describe('checkPattern: WEAK_USER_PATTERN', () => {
  it.each(['0125', '0367', '0485', '8763', '3012', '6301', '1472'])('short-simple: %s (4 nodes, at most one turn)', (pattern) => {
    expect(evaluatePattern(pattern)).toEqual({ result: 'WEAK_USER_PATTERN', rule: 'short-simple' });
  });

  it.each(Object.entries(COMMON_PATTERN_SHAPES))('common-shape: %s (%s)', (_name, pattern) => {
    expect(evaluatePattern(pattern)).toEqual({ result: 'WEAK_USER_PATTERN', rule: 'common-shape' });
  });

  it.each([
    ['25876', 'L rotated a quarter turn (ㄱ drawn backwards)'],
    ['87630', 'L drawn backwards'],
    ['01258', 'L mirrored: ㄱ'],
    ['6785210', 'C rotated: U opening up'],
    ['2104678', 'Z mirrored'],
    ['876345210', 'S drawn from the other end'],
    ['36785210', 'outer square from another corner, the other way round'],
    ['3476', 'small square in the bottom-left corner'],
  ])('common-shape variant %s (%s)', (pattern) => {
    expect(evaluatePattern(pattern)).toEqual({ result: 'WEAK_USER_PATTERN', rule: 'common-shape' });
  });

  it.each(['0157', '27306', '84615', '04176', '5031642', '0514'])('%s is accepted', (pattern) => {
    expect(checkPattern(pattern)).toBe('ok');
  });
});
