import { x509 } from '@kfrm/pki';

/**
 * How a device certificate names its device: `CN=device-<id>` and one URI SAN
 * `urn:kfrm:device:<id>`, with `<id>` the decimal device id (devices.id in the device service).
 * The issuer writes both; the verifier requires both and that they agree, so a certificate that
 * names no device, or two, is not a device certificate.
 */
export const DEVICE_URI_PREFIX = 'urn:kfrm:device:';
const DEVICE_CN_PREFIX = 'device-';
/** A positive decimal without leading zeros: one spelling per id. */
const DEVICE_ID = /^[1-9][0-9]{0,19}$/;
const UINT64_MAX = (1n << 64n) - 1n;

export interface DeviceCertificateNames {
  /** Subject DN, e.g. `CN=device-42`. */
  subject: string;
  /** URI SAN, e.g. `urn:kfrm:device:42`. */
  uri: string;
}

export function deviceCertificateNames(deviceId: bigint): DeviceCertificateNames {
  if (deviceId <= 0n || deviceId > UINT64_MAX) throw new RangeError(`device id out of range: ${deviceId}`);
  return { subject: `CN=${DEVICE_CN_PREFIX}${deviceId}`, uri: `${DEVICE_URI_PREFIX}${deviceId}` };
}

function parseDeviceId(text: string): string | undefined {
  if (!DEVICE_ID.test(text) || BigInt(text) > UINT64_MAX) return undefined;
  return text;
}

/** The decimal device id a certificate names, or undefined when it does not name exactly one. */
export function deviceIdFromCertificate(certificate: x509.X509Certificate): string | undefined {
  let san: x509.SubjectAlternativeNameExtension | null;
  try {
    san = certificate.getExtension(x509.SubjectAlternativeNameExtension);
  } catch {
    return undefined;
  }
  const uris = (san?.names.toJSON() ?? []).filter((n) => n.type === 'url' && n.value.startsWith(DEVICE_URI_PREFIX));
  if (uris.length !== 1) return undefined;
  const id = parseDeviceId(uris[0]!.value.slice(DEVICE_URI_PREFIX.length));
  if (!id) return undefined;
  const commonNames = certificate.subjectName.getField('CN');
  if (commonNames.length !== 1 || commonNames[0] !== `${DEVICE_CN_PREFIX}${id}`) return undefined;
  return id;
}
