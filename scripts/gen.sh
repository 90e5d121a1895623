#!/usr/bin/env bash
# Regenerates the gRPC contract's generated code from proto/:
#   - TypeScript (ts-proto, @grpc/grpc-js flavour) via `buf generate` (buf.gen.yaml)
#   - a binary FileDescriptorSet (with imports) for gRPC server reflection
# into packages/proto/src/gen (committed; see packages/proto/README.md).
#
# Usage:
#   bash scripts/gen.sh           regenerate packages/proto/src/gen in place
#   bash scripts/gen.sh --check   regenerate into a temp dir and fail if it
#                                 differs from packages/proto/src/gen (CI)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUF="$ROOT/node_modules/.bin/buf"
GEN_DIR="packages/proto/src/gen"

if [[ ! -x "$BUF" || ! -x "$ROOT/node_modules/.bin/protoc-gen-ts_proto" ]]; then
  echo "gen.sh: buf or protoc-gen-ts_proto missing in node_modules/.bin (run pnpm install)" >&2
  exit 2
fi

# generate <base dir>: writes <base dir>/$GEN_DIR from scratch.
generate() {
  local base="$1"
  rm -rf "${base:?}/$GEN_DIR"
  "$BUF" generate --template buf.gen.yaml -o "$base"
  "$BUF" build proto -o "$base/$GEN_DIR/descriptor-set.binpb"
}

case "${1:-}" in
  "")
    generate "$ROOT"
    echo "gen.sh: regenerated $GEN_DIR"
    ;;
  --check)
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    generate "$tmp"
    if ! diff -r "$tmp/$GEN_DIR" "$GEN_DIR" >"$tmp/diff.txt" 2>&1; then
      echo "gen.sh --check: $GEN_DIR is out of date with proto/ (or was edited by hand)." >&2
      echo "Run 'bash scripts/gen.sh' (pnpm gen) and commit the result. Differences:" >&2
      head -n 50 "$tmp/diff.txt" >&2
      exit 1
    fi
    echo "gen.sh --check: $GEN_DIR is up to date"
    ;;
  *)
    echo "usage: bash scripts/gen.sh [--check]" >&2
    exit 2
    ;;
esac
