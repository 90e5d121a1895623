import { describe, expect, it } from 'vitest';
import { DomainError } from '@kfrm/errors';
import { pickReleasedVersions } from './app-version';

const v = (text: string, forceUpdate = false) => {
  const [major, minor, patch] = text.split('.').map(Number) as [number, number, number];
  return { major, minor, patch, forceUpdate };
};

describe('pickReleasedVersions', () => {
  it('orders numerically, not as text', () => {
    expect(pickReleasedVersions([v('1.9.0'), v('1.10.0'), v('1.2.3')]).latest).toBe('1.10.0');
  });

  it('takes the newest forced release as the minimum', () => {
    expect(pickReleasedVersions([v('1.0.0', true), v('1.5.0', true), v('2.0.0')])).toEqual({ minimum: '1.5.0', latest: '2.0.0' });
  });

  it('falls back to the first release when none is forced', () => {
    expect(pickReleasedVersions([v('2.0.0'), v('1.0.0')])).toEqual({ minimum: '1.0.0', latest: '2.0.0' });
  });

  it('fails with APP_VERSION_NOT_FOUND when nothing is released', () => {
    expect(() => pickReleasedVersions([])).toThrow(DomainError);
    try {
      pickReleasedVersions([]);
    } catch (err) {
      expect((err as DomainError).code).toBe('APP_VERSION_NOT_FOUND');
    }
  });
});
