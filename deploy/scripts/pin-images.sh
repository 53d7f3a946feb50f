#!/usr/bin/env bash
# Pins every image we build from or run without building to the digest its tag points at now:
# `name:tag` (or `name:tag@sha256:old`) becomes `name:tag@sha256:new`, the multi-platform index, so
# a build or a `docker compose up` gets the same bytes until someone runs this again. Our own
# images (hitl/*) are left alone. Reads the Dockerfiles (ARG *_IMAGE defaults and FROM lines),
# docker-compose.yml and the manifests under deploy/k8s.
#
#   bash deploy/scripts/pin-images.sh          resolve and rewrite (online: crane or docker buildx)
#   bash deploy/scripts/pin-images.sh --list   print `file<TAB>line<TAB>reference`, offline
#
# Then review the diff, and remove from unpinnedImages (deploy/scripts/images.ts) what it pinned:
# deploy/test/images.test.ts fails while a pinned image is still listed there.
# HITL_DIGEST_CMD replaces the resolver (the tests use it): given a reference, it prints sha256:….
set -euo pipefail
root="${PIN_IMAGES_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$root"

say() { echo "[pin-images] $*" >&2; }

files() {
  local f
  for f in services/*/Dockerfile deploy/docker/*Dockerfile docker-compose.yml; do
    [ -f "$f" ] && echo "$f"
  done
  [ -d deploy/k8s ] && find deploy/k8s -name '*.yaml' | sort
  return 0
}

# file<TAB>line<TAB>reference for each third-party image reference. A FROM naming an earlier
# stage, or an ARG (${NODE_IMAGE}), is not an image: the ARG's default is.
list() {
  local f
  files | while read -r f; do
    awk -v file="$f" '
      function emit(ref) {
        gsub(/["'\'']/, "", ref)
        if (ref == "" || ref ~ /\$/ || ref ~ /^hitl\// || (ref in stages)) return
        printf "%s\t%d\t%s\n", file, FNR, ref
      }
      /^[ \t]*#/ { next }
      toupper($1) == "FROM" {
        i = 2
        if ($i ~ /^--platform=/) i++
        emit($i)
        if (toupper($(i + 1)) == "AS") stages[$(i + 2)] = 1
        next
      }
      toupper($1) == "ARG" && $2 ~ /^[A-Z_]*IMAGE=/ { sub(/^[A-Z_]*IMAGE=/, "", $2); emit($2); next }
      $1 == "image:" || $1 == "-" && $2 == "image:" { emit($NF) }
    ' "$f"
  done
}

resolve() {
  if [ -n "${HITL_DIGEST_CMD:-}" ]; then
    $HITL_DIGEST_CMD "$1"
  elif command -v crane >/dev/null 2>&1; then
    # Without --platform, crane gives the index's digest: every platform stays pinned.
    crane digest "$1"
  elif docker buildx version >/dev/null 2>&1; then
    docker buildx imagetools inspect "$1" --format '{{.Manifest.Digest}}'
  else
    say "needs crane or docker buildx, and the network, to resolve $1"
    return 1
  fi
}

if [ "${1:-}" = "--list" ]; then
  list
  exit 0
fi
[ $# -eq 0 ] || {
  say "usage: pin-images.sh [--list]"
  exit 64
}

list | while IFS=$'\t' read -r file line ref; do
  tagged="${ref%@*}"
  digest="$(resolve "$tagged")"
  if ! [[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
    say "$tagged resolved to '$digest', not a sha256 digest"
    exit 1
  fi
  pinned="$tagged@$digest"
  if [ "$ref" = "$pinned" ]; then
    say "$file:$line $ref (unchanged)"
    continue
  fi
  OLD="$ref" NEW="$pinned" LINE="$line" perl -pi -e \
    's/\Q$ENV{OLD}\E(?=["'\'']?\s*$)/$ENV{NEW}/ if $. == $ENV{LINE}; close ARGV if eof' "$file"
  say "$file:$line $ref -> $pinned"
done
