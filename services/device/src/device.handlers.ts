import { InvalidArgumentError } from '@kfrm/errors';
import { CreateDeviceApiError, CreateDeviceApiError_ErrorCode, DeviceServiceService } from '@kfrm/proto/gen/kfrm/api/device/device';
import {
  DeviceRegistryServiceService,
  RevocationReason as ProtoRevocationReason,
  RevokeDeviceApiError,
  RevokeDeviceApiError_ErrorCode,
} from '@kfrm/proto/gen/kfrm/api/device/device_internal';
import { apiErrorType, defineService, raises } from '@kfrm/server-kit';
import type { DeviceRegistry, RevokeDeviceCode } from './device';
import type { DeviceKeyCode } from './device-key';
import type { RevocationReason } from './revocation-reason';

/** The app's DeviceService: CreateDevice is public, a phone calls it before it has a certificate. */
export function deviceHandlers(registry: DeviceRegistry) {
  return defineService(
    DeviceServiceService,
    {
      async createDevice(request, ctx) {
        const device = await registry.createDevice(request.publicKey, { address: ctx.clientAddress });
        return {
          deviceId: device.deviceId,
          certificate: Buffer.from(device.certificateDer).toString('base64'),
          createdAt: device.createdAt.toISOString(),
        };
      },
    },
    {
      createDevice: {
        access: 'public',
        idempotent: true,
        errors: apiErrorType(CreateDeviceApiError, CreateDeviceApiError_ErrorCode),
        raises: raises<DeviceKeyCode>(),
      },
    },
  );
}

const REASONS: Partial<Record<ProtoRevocationReason, RevocationReason>> = {
  [ProtoRevocationReason.REVOCATION_REASON_DEVICE_CHANGED]: 'DEVICE_CHANGED',
  [ProtoRevocationReason.REVOCATION_REASON_USER_BLOCKED]: 'USER_BLOCKED',
  [ProtoRevocationReason.REVOCATION_REASON_COMPROMISED]: 'COMPROMISED',
};

/** The internal DeviceRegistryService: other services revoke devices through it. */
export function deviceRegistryHandlers(registry: DeviceRegistry) {
  return defineService(
    DeviceRegistryServiceService,
    {
      async revokeDevice(request) {
        const reason = REASONS[request.reason];
        if (!reason) throw new InvalidArgumentError('reason is required');
        if (request.deviceId === 0n) throw new InvalidArgumentError('device_id is required');
        const { revokedAt } = await registry.revokeDevice(request.deviceId, reason);
        return { revokedAt: revokedAt.toISOString() };
      },
    },
    {
      revokeDevice: {
        access: 'internal',
        callers: ['auth', 'user'],
        operator: ['support'],
        audit: {
          action: 'device.revocation',
          target: (r) => `device:${r.deviceId}`,
          detail: (r) => ({ reason: ProtoRevocationReason[r.reason] ?? String(r.reason) }),
        },
        errors: apiErrorType(RevokeDeviceApiError, RevokeDeviceApiError_ErrorCode),
        raises: raises<RevokeDeviceCode>(),
      },
    },
  );
}
