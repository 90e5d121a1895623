/**
 * Seed error codes as types, derived from the generated `…ApiError_ErrorCode` enums (type-only
 * imports: nothing of gRPC is loaded at run time). A DomainError can only carry one of these, a
 * use case names the subset it raises, and the server kit checks that subset against the
 * method's ApiError enum at compile time (define-service.ts).
 */
import type * as account from '@kfrm/proto/gen/kfrm/api/account/account';
import type * as ledger from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import type * as appVersion from '@kfrm/proto/gen/kfrm/api/appversion/app_version';
import type * as auth from '@kfrm/proto/gen/kfrm/api/auth/auth';
import type * as authInternal from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import type * as authCredential from '@kfrm/proto/gen/kfrm/api/auth/credential';
import type * as authentication from '@kfrm/proto/gen/kfrm/api/authentication/authentication';
import type * as casa from '@kfrm/proto/gen/kfrm/api/casa/casa';
import type * as common from '@kfrm/proto/gen/kfrm/api/common/error';
import type * as device from '@kfrm/proto/gen/kfrm/api/device/device';
import type * as deviceInternal from '@kfrm/proto/gen/kfrm/api/device/device_internal';
import type * as funding from '@kfrm/proto/gen/kfrm/api/funding/funding';
import type * as fundingInternal from '@kfrm/proto/gen/kfrm/api/funding/funding_internal';
import type * as key from '@kfrm/proto/gen/kfrm/api/key/key';
import type * as transfer from '@kfrm/proto/gen/kfrm/api/transfer/transfer';
import type * as user from '@kfrm/proto/gen/kfrm/api/user/user';
import type * as membership from '@kfrm/proto/gen/kfrm/api/user/membership';
import type * as userInternal from '@kfrm/proto/gen/kfrm/api/user/user_internal';
import type * as operatorApproval from '@kfrm/proto/gen/kfrm/api/user/operator_approval_internal';

/** The code names of one generated enum: `CodeOf<typeof ExecuteApiError_ErrorCode>`. */
export type CodeOf<E> = Exclude<keyof E, 'UNRECOGNIZED'> & string;

/** Every code of every `…ApiError_ErrorCode` enum a generated module exports. */
type CodesIn<M> = { [K in keyof M]: K extends `${string}ApiError_ErrorCode` ? CodeOf<M[K]> : never }[keyof M];

/** The cross-cutting codes any method may answer (kfrm.api.common.CommonApiError). */
export type CommonCode = CodeOf<typeof common.CommonApiError_ErrorCode>;

/**
 * Every seed error code in the contract. A proto file that adds ApiError enums gets a line here.
 * The server kit's status table must have exactly these codes (`satisfies`) and its test wants a
 * row for every enum's code, so the row of a file left out here does not compile.
 */
export type SeedCode =
  | CodesIn<typeof account>
  | CodesIn<typeof ledger>
  | CodesIn<typeof appVersion>
  | CodesIn<typeof auth>
  | CodesIn<typeof authInternal>
  | CodesIn<typeof authCredential>
  | CodesIn<typeof authentication>
  | CodesIn<typeof casa>
  | CodesIn<typeof common>
  | CodesIn<typeof device>
  | CodesIn<typeof deviceInternal>
  | CodesIn<typeof funding>
  | CodesIn<typeof fundingInternal>
  | CodesIn<typeof key>
  | CodesIn<typeof transfer>
  | CodesIn<typeof user>
  | CodesIn<typeof membership>
  | CodesIn<typeof userInternal>
  | CodesIn<typeof operatorApproval>;
