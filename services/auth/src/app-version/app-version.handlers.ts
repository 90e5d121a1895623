import type { Kysely } from 'kysely';
import {
  AppVersionServiceService,
  GetReleasedAppVersionApiError,
  GetReleasedAppVersionApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/appversion/app_version';
import { apiErrorType, defineService, raises } from '@kfrm/server-kit';
import { pickReleasedVersions, type ReleasedVersionsCode } from './app-version';
import { listReleasedVersions } from './app-version.repository';
import type { AppVersionTable } from './app-version.table';

export function appVersionHandlers(db: Kysely<{ app_versions: AppVersionTable }>) {
  return defineService(
    AppVersionServiceService,
    {
      async getReleasedAppVersion() {
        const versions = pickReleasedVersions(await listReleasedVersions(db));
        return { minimum: { version: versions.minimum }, latest: { version: versions.latest } };
      },
    },
    {
      // Asked at app start, before the device has a certificate.
      getReleasedAppVersion: {
        access: 'public',
        errors: apiErrorType(GetReleasedAppVersionApiError, GetReleasedAppVersionApiError_ErrorCode),
        raises: raises<ReleasedVersionsCode>(),
      },
    },
  );
}
