// @kfrm/proto — the kfrm gRPC contract (proto/ at the repo root) as generated
// TypeScript. Import generated modules directly, e.g.
//   import { KeyServiceService, type KeyServiceServer } from "@kfrm/proto/gen/kfrm/api/key/key";
// Regenerate with `bash scripts/gen.sh` (see packages/proto/README.md).
import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the binary FileDescriptorSet (all kfrm protos plus their
 * imports, e.g. google/protobuf/any.proto) for gRPC server reflection.
 */
export const descriptorSetPath: string = fileURLToPath(new URL('./gen/descriptor-set.binpb', import.meta.url));
