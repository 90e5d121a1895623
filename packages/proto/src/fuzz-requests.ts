/**
 * `@kfrm/proto/fuzz-requests`: hostile but well-formed requests for any method of the contract,
 * built from the descriptor set (reliability item 23: missing fields, huge strings, unknown enum
 * values, int64 overflow). For tests only: the requests are wire bytes, sent with an identity
 * serializer so they reach the server exactly as built.
 */
import { readFileSync } from 'node:fs';
import {
  createFileRegistry,
  fromBinary,
  ScalarType,
  type DescField,
  type DescMessage,
  type DescMethod,
  type FileRegistry,
} from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { descriptorSetPath } from './index';

export function loadContract(): FileRegistry {
  return createFileRegistry(fromBinary(FileDescriptorSetSchema, readFileSync(descriptorSetPath)));
}

/** The method at a gRPC path ("/kfrm.api.key.KeyService/GetKey"). */
export function methodAt(registry: FileRegistry, path: string): DescMethod {
  const [, serviceName, methodName] = /^\/([^/]+)\/([^/]+)$/.exec(path) ?? [];
  const method = registry.getService(serviceName ?? '')?.methods.find((m) => m.name === methodName);
  if (!method) throw new Error(`no method ${path} in the contract`);
  return method;
}

/** A small deterministic PRNG, so a failing case can be replayed from its seed. */
function prng(seed: number) {
  // Scrambled, so that neighbouring small seeds do not start alike.
  let state = Math.imul((seed ^ 0x9e3779b9) >>> 0, 0x85ebca6b) >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

type Style = 'extreme' | 'random';
const STRINGS = [
  '',
  ' ',
  'x'.repeat(16 * 1024),
  '\u0000',
  'ñ😀\u202e',
  "'; drop table users; --",
  '-1',
  '9'.repeat(40),
  '1e309',
  '../../etc/passwd',
  '{"a":1}',
  'null',
];
const INT64S = [-(2n ** 63n), 2n ** 63n - 1n, -1n, 0n, 2n ** 53n + 1n];
const UINT64S = [2n ** 64n - 1n, 2n ** 63n, 0n, 2n ** 53n + 1n];
const INT32S = [-(2 ** 31), 2 ** 31 - 1, -1, 0];
const UINT32S = [2 ** 32 - 1, 0, 2 ** 31];
const DOUBLES = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, -0, 1e308, -1e308, 5e-324];
const ENUMS = [999, -1, 2 ** 31 - 1];

function pick<T>(values: readonly T[], random: () => number): T {
  return values[Math.floor(random() * values.length)]!;
}

function writeScalar(w: BinaryWriter, no: number, type: ScalarType, random: () => number): void {
  switch (type) {
    case ScalarType.STRING:
      return void w.tag(no, WireType.LengthDelimited).string(pick(STRINGS, random));
    case ScalarType.BYTES: {
      const bytes = new Uint8Array(pick([0, 1, 33, 4096], random)).map(() => Math.floor(random() * 256));
      return void w.tag(no, WireType.LengthDelimited).bytes(bytes);
    }
    case ScalarType.BOOL:
      return void w.tag(no, WireType.Varint).bool(random() < 0.5);
    case ScalarType.INT64:
      return void w.tag(no, WireType.Varint).int64(pick(INT64S, random));
    case ScalarType.SINT64:
      return void w.tag(no, WireType.Varint).sint64(pick(INT64S, random));
    case ScalarType.SFIXED64:
      return void w.tag(no, WireType.Bit64).sfixed64(pick(INT64S, random));
    case ScalarType.UINT64:
      return void w.tag(no, WireType.Varint).uint64(pick(UINT64S, random));
    case ScalarType.FIXED64:
      return void w.tag(no, WireType.Bit64).fixed64(pick(UINT64S, random));
    case ScalarType.INT32:
      return void w.tag(no, WireType.Varint).int32(pick(INT32S, random));
    case ScalarType.SINT32:
      return void w.tag(no, WireType.Varint).sint32(pick(INT32S, random));
    case ScalarType.SFIXED32:
      return void w.tag(no, WireType.Bit32).sfixed32(pick(INT32S, random));
    case ScalarType.UINT32:
      return void w.tag(no, WireType.Varint).uint32(pick(UINT32S, random));
    case ScalarType.FIXED32:
      return void w.tag(no, WireType.Bit32).fixed32(pick(UINT32S, random));
    case ScalarType.DOUBLE:
      return void w.tag(no, WireType.Bit64).double(pick(DOUBLES, random));
    case ScalarType.FLOAT:
      return void w.tag(no, WireType.Bit32).float(pick(DOUBLES, random));
  }
}

function writeMessage(w: BinaryWriter, no: number, desc: DescMessage, random: () => number, depth: number, style: Style): void {
  w.tag(no, WireType.LengthDelimited).fork();
  if (depth < 4) writeFields(w, desc, random, depth + 1, style);
  w.join();
}

function writeField(w: BinaryWriter, field: DescField, random: () => number, depth: number, style: Style): void {
  const no = field.number;
  switch (field.fieldKind) {
    case 'scalar':
      return writeScalar(w, no, field.scalar, random);
    case 'enum':
      return void w
        .tag(no, WireType.Varint)
        .int32(style === 'extreme' ? pick(ENUMS, random) : pick([...field.enum.values.map((v) => v.number), ...ENUMS], random));
    case 'message':
      return writeMessage(w, no, field.message, random, depth, style);
    case 'list': {
      const count = pick([0, 1, 3, 50], random);
      for (let i = 0; i < count; i++) {
        if (field.listKind === 'scalar') writeScalar(w, no, field.scalar, random);
        else if (field.listKind === 'enum') w.tag(no, WireType.Varint).int32(pick(ENUMS, random));
        else writeMessage(w, no, field.message, random, depth, style);
      }
      return;
    }
    case 'map':
      return; // no maps in the contract's requests
  }
}

function writeFields(w: BinaryWriter, desc: DescMessage, random: () => number, depth: number, style: Style): void {
  for (const field of desc.fields) {
    // Random style leaves fields out now and then (missing fields); extreme sets every one.
    if (style === 'random' && random() < 0.3) continue;
    writeField(w, field, random, depth, style);
  }
}

export interface FuzzedRequest {
  /** What the case is, for a failure message: "empty", "field 3 only, seed 7", "random, seed 12". */
  label: string;
  bytes: Uint8Array;
}

/**
 * For a request message: the empty message (every field missing), every field at once with
 * extreme values, each field alone with an extreme value, and `randomCases` random mixes.
 */
export function fuzzRequests(desc: DescMessage, randomCases = 8, seed = 1): FuzzedRequest[] {
  const cases: FuzzedRequest[] = [{ label: 'empty', bytes: new Uint8Array() }];
  const all = new BinaryWriter();
  writeFields(all, desc, prng(seed), 0, 'extreme');
  cases.push({ label: `every field extreme, seed ${seed}`, bytes: all.finish() });
  for (const field of desc.fields) {
    const w = new BinaryWriter();
    writeField(w, field, prng(seed + field.number), 0, 'extreme');
    cases.push({ label: `${field.name} only, seed ${seed + field.number}`, bytes: w.finish() });
  }
  for (let i = 0; i < randomCases; i++) {
    const w = new BinaryWriter();
    writeFields(w, desc, prng(seed * 1000 + i), 0, 'random');
    cases.push({ label: `random, seed ${seed * 1000 + i}`, bytes: w.finish() });
  }
  return cases;
}

export interface ContractMethod {
  /** "/kfrm.api.key.KeyService/GetKey" */
  path: string;
  /** Declared in a `*_internal.proto` file: served on the internal listener. */
  internal: boolean;
  serverStreaming: boolean;
  input: DescMessage;
}

/** Every method of every kfrm service in the contract. */
export function contractMethods(registry: FileRegistry = loadContract()): ContractMethod[] {
  const methods: ContractMethod[] = [];
  for (const desc of registry) {
    if (desc.kind !== 'service' || !desc.typeName.startsWith('kfrm.api.')) continue;
    for (const method of desc.methods) {
      methods.push({
        path: `/${desc.typeName}/${method.name}`,
        internal: desc.file.name.endsWith('_internal'),
        serverStreaming: method.methodKind === 'server_streaming',
        input: method.input,
      });
    }
  }
  return methods;
}
