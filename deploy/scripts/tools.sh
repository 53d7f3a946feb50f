#!/usr/bin/env bash
# Installs what the deploy tests need, when it is missing (the first run takes a minute):
#   docker-compose  Debian's package (1.29): validates docker-compose.yml offline, no engine needed
#   kustomize       from the Go module proxy with `go install`, into <repo>/.cache/bin (git-ignored)
# Fails, naming what is missing, where it cannot install: the tests must not pass without them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.8.1}" # v5.8.1 builds with this machine's Go (1.26)
bin="$root/.cache/bin"

say() { echo "[deploy-tools] $*" >&2; }

if ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing Debian's docker-compose"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install --yes -qq docker-compose >/dev/null
  else
    say "docker-compose is missing: install Debian's docker-compose package (as root: apt-get install docker-compose)"
    exit 1
  fi
fi

if [ "$("$bin/kustomize" version 2>/dev/null || true)" != "$KUSTOMIZE_VERSION" ]; then
  if ! command -v go >/dev/null 2>&1; then
    say "kustomize is missing and there is no Go to install it: install Go, then run this again"
    exit 1
  fi
  say "installing kustomize $KUSTOMIZE_VERSION into $bin"
  mkdir -p "$bin"
  GOBIN="$bin" GOFLAGS=-buildvcs=false go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
fi
