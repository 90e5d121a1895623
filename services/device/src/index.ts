export { createDeviceModule, deviceModule, DEVICE_SCHEMA, type DeviceModuleOptions } from './device.module';
export { createDeviceRegistry, remarkRevokedDevices, revokeDevice, type CreatedDevice, type DeviceRegistry } from './device';
export {
  parseDevicePublicKey,
  DEVICE_KEY_ALGORITHMS,
  MAX_PUBLIC_KEY_CHARS,
  type DeviceKeyAlgorithm,
  type DevicePublicKey,
} from './device-key';
export { REVOCATION_REASONS, type RevocationReason } from './revocation-reason';
