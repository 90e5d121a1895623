/**
 * Splits a serialized google.protobuf.FileDescriptorSet into its files' serialized
 * FileDescriptorProtos (field 1, length-delimited, repeated). Server reflection needs exactly
 * those bytes; going through proto-loader instead loses files that hold only messages and enums
 * (kfrm/api/common/common.proto was missing, so reflection could not resolve KeyService).
 */
export function splitFileDescriptorSet(set: Uint8Array): Buffer[] {
  const files: Buffer[] = [];
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= set.length) throw new Error('truncated descriptor set');
      const byte = set[pos++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 49) throw new Error('varint too long in descriptor set');
    }
  };
  while (pos < set.length) {
    const tag = varint();
    if (tag !== ((1 << 3) | 2)) throw new Error(`unexpected field tag ${tag} in descriptor set`);
    const length = varint();
    if (pos + length > set.length) throw new Error('truncated descriptor set');
    files.push(Buffer.from(set.subarray(pos, pos + length)));
    pos += length;
  }
  return files;
}
