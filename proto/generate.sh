#!/usr/bin/env bash
# Generates packages/proto/src/gen from proto/ with buf + ts-proto.
# --check: regenerate into a temp dir and fail if the committed code has drifted.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/proto"
buf="$root/node_modules/.bin/buf"
"$buf" lint
# No change may break the previous commit's contracts (wire or JSON): buf breaking against HEAD~1.
if git -C "$root" cat-file -e HEAD~1:proto/buf.yaml 2>/dev/null; then
  "$buf" breaking --against "$root/.git#ref=HEAD~1,subdir=proto"
fi
if [[ "${1:-}" == "--check" ]]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # Same template, output redirected into the temp dir.
  sed "s#out: ../packages/proto/src/gen#out: $tmp/gen#" buf.gen.yaml >"$tmp/buf.gen.yaml"
  "$buf" generate --template "$tmp/buf.gen.yaml"
  gen="$tmp/gen"
  if ! diff -r "$gen" "$root/packages/proto/src/gen" >/dev/null; then
    echo "proto: generated code in packages/proto/src/gen is out of date; run 'npm run proto:gen' and commit the result" >&2
    diff -r "$gen" "$root/packages/proto/src/gen" | head -20 >&2
    exit 1
  fi
  echo "proto: generated code is up to date" >&2
else
  rm -rf "$root/packages/proto/src/gen"
  "$buf" generate --template buf.gen.yaml
  echo "proto: generated packages/proto/src/gen" >&2
fi
