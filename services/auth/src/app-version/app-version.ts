import { failWith } from '@kfrm/errors';

export interface ReleasedVersion {
  major: number;
  minor: number;
  patch: number;
  forceUpdate: boolean;
}

export interface ReleasedAppVersions {
  /** The oldest version the app may still run: the newest forced release (or the first release). */
  minimum: string;
  /** The newest released version. */
  latest: string;
}

const format = (v: ReleasedVersion) => `${v.major}.${v.minor}.${v.patch}`;
const compare = (a: ReleasedVersion, b: ReleasedVersion) => a.major - b.major || a.minor - b.minor || a.patch - b.patch;

/** What pickReleasedVersions raises (checked against GetReleasedAppVersion's ApiError by its handler). */
export type ReleasedVersionsCode = 'APP_VERSION_NOT_FOUND';
const versionsFailed = failWith<ReleasedVersionsCode>();

/** Picks minimum and latest from the released versions; none released is APP_VERSION_NOT_FOUND. */
export function pickReleasedVersions(released: ReleasedVersion[]): ReleasedAppVersions {
  if (released.length === 0) throw versionsFailed('APP_VERSION_NOT_FOUND', 'no app version has been released');
  const sorted = [...released].sort(compare);
  const latest = sorted[sorted.length - 1]!;
  const forced = sorted.filter((v) => v.forceUpdate);
  const minimum = forced.length > 0 ? forced[forced.length - 1]! : sorted[0]!;
  return { minimum: format(minimum), latest: format(latest) };
}
