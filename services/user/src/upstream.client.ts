import { UpstreamRefusal } from '@kfrm/errors';
import {
  CredentialServiceClient,
  GetActiveSigningCertificateApiError,
  GetActiveSigningCertificateApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/auth/auth_internal';
import {
  DeviceRegistryServiceClient,
  RevocationReason,
  RevokeDeviceApiError,
  RevokeDeviceApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/device/device_internal';
import { unaryCall, type InternalClients } from '@kfrm/runtime';
import { apiErrorType } from '@kfrm/server-kit';
import type { Logger } from '@kfrm/logging';
import { LedgerServiceClient } from '@kfrm/proto/gen/kfrm/api/account/ledger_internal';
import { UpstreamUnavailableError, type DeviceRevoker, type SigningCertificateSource } from './deps';
import type { CredentialRevoker, MemberAccounts } from './withdrawal';

const revokeDeviceErrors = apiErrorType(RevokeDeviceApiError, RevokeDeviceApiError_ErrorCode);
const signingCertificateErrors = apiErrorType(GetActiveSigningCertificateApiError, GetActiveSigningCertificateApiError_ErrorCode);

/** DeviceRegistryService.RevokeDevice over the internal API. */
export function deviceRevokerFrom(clients: InternalClients, logger: Logger): DeviceRevoker {
  return {
    async revokeDevice(deviceId, reason) {
      const protoReason =
        reason === 'USER_BLOCKED' ? RevocationReason.REVOCATION_REASON_USER_BLOCKED : RevocationReason.REVOCATION_REASON_UNSPECIFIED;
      try {
        await unaryCall(
          clients.get(DeviceRegistryServiceClient),
          'revokeDevice',
          { deviceId, reason: protoReason },
          { errors: revokeDeviceErrors },
        );
      } catch (err) {
        if (err instanceof UpstreamRefusal && err.code === 'DEVICE_NOT_FOUND') {
          logger.warn({ device_id: deviceId.toString() }, 'device to revoke is unknown to the device service');
          return;
        }
        throw new UpstreamUnavailableError('device service did not revoke the device', { cause: err });
      }
    },
  };
}

/** CredentialService.GetActiveSigningCertificate over the internal API. */
export function signingCertificatesFrom(clients: InternalClients): SigningCertificateSource {
  return {
    async getActive(userId) {
      try {
        const response = await unaryCall(
          clients.get(CredentialServiceClient),
          'getActiveSigningCertificate',
          { userId },
          { errors: signingCertificateErrors },
        );
        return {
          certificateDer: Buffer.from(response.certificate, 'base64'),
          issuerDer: Buffer.from(response.issuerCertificate, 'base64'),
        };
      } catch (err) {
        if (err instanceof UpstreamRefusal && err.code === 'SIGNING_CERTIFICATE_NOT_FOUND') return undefined;
        throw new UpstreamUnavailableError('auth service did not answer for the signing certificate', { cause: err });
      }
    },
  };
}

/** LedgerService.ListAccountsOfOwner: how many of the member's accounts are still open. */
export function memberAccountsFrom(clients: InternalClients): MemberAccounts {
  return {
    async countOpenAccounts(userId) {
      try {
        const { accounts } = await unaryCall(clients.get(LedgerServiceClient), 'listAccountsOfOwner', { ownerUserId: userId.toString() });
        return accounts.filter((a) => a.closedAt === '').length;
      } catch (err) {
        throw new UpstreamUnavailableError('the ledger did not list the member’s accounts', { cause: err });
      }
    },
  };
}

/** CredentialService.RevokeCredentials over the internal API. */
export function credentialRevokerFrom(clients: InternalClients): CredentialRevoker {
  return {
    async revokeCredentials(userId) {
      try {
        await unaryCall(clients.get(CredentialServiceClient), 'revokeCredentials', { userId });
      } catch (err) {
        throw new UpstreamUnavailableError('auth service did not revoke the credentials', { cause: err });
      }
    },
  };
}
