import type { Migration } from 'kysely';
import * as m001 from './001_app_versions';
import * as m002 from './002_identity';
import * as m003 from './003_biometric_keys_by_device';

/** Applied in key order; never renamed or edited once shipped. */
export const migrations: Record<string, Migration> = {
  '001_app_versions': m001,
  '002_identity': m002,
  '003_biometric_keys_by_device': m003,
};
