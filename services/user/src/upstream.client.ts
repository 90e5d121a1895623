import * as grpc from '@grpc/grpc-js';
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
import type { InternalClients } from '@kfrm/runtime';
import { apiErrorCode } from '@kfrm/server-kit';
import type { Logger } from '@kfrm/logging';
import { UpstreamUnavailableError, type DeviceRevoker, type SigningCertificateSource } from './deps';

const CALL_TIMEOUT_MS = 5_000;

type Unary<Req, Res> = (
  request: Req,
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, response: Res) => void,
) => unknown;

function unary<Req, Res>(fn: Unary<Req, Res>, request: Req): Promise<Res> {
  return new Promise((resolve, reject) =>
    fn(request, new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, response) => (err ? reject(err) : resolve(response))),
  );
}

/** DeviceRegistryService.RevokeDevice over the internal API. */
export function deviceRevokerFrom(clients: InternalClients, logger: Logger): DeviceRevoker {
  return {
    async revokeDevice(deviceId, reason) {
      const client = clients.get(DeviceRegistryServiceClient);
      const protoReason = reason === 'USER_BLOCKED' ? RevocationReason.REVOCATION_REASON_USER_BLOCKED : RevocationReason.REVOCATION_REASON_UNSPECIFIED;
      try {
        await unary(client.revokeDevice.bind(client), { deviceId, reason: protoReason });
      } catch (err) {
        if (apiErrorCode(err, RevokeDeviceApiError) === RevokeDeviceApiError_ErrorCode.DEVICE_NOT_FOUND) {
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
      const client = clients.get(CredentialServiceClient);
      try {
        const response = await unary(client.getActiveSigningCertificate.bind(client), { userId });
        return { certificateDer: Buffer.from(response.certificate, 'base64'), issuerDer: Buffer.from(response.issuerCertificate, 'base64') };
      } catch (err) {
        if (apiErrorCode(err, GetActiveSigningCertificateApiError) === GetActiveSigningCertificateApiError_ErrorCode.SIGNING_CERTIFICATE_NOT_FOUND) return undefined;
        throw new UpstreamUnavailableError('auth service did not answer for the signing certificate', { cause: err });
      }
    },
  };
}
