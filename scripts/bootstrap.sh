#!/usr/bin/env bash
# Installs what the workspace needs on a machine that has Node.js 20+: pnpm (the version pinned
# in package.json's packageManager field), the dependencies from the lockfile, and Python 3 with
# the API fuzzer's pinned schemathesis in .venv/ (scripts/fuzz-api.sh), and Chromium for the
# web app's browser tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

if ! command -v node >/dev/null 2>&1; then
  log "Node.js 20 or newer is required (https://nodejs.org or your distribution's nodejs package)"
  exit 1
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  log "Node.js 20 or newer is required, found $(node -v)"
  exit 1
fi

want="$(node -p 'require("./package.json").packageManager.split("@")[1]')"
have="$(pnpm --version 2>/dev/null || true)"
if [ "$have" != "$want" ]; then
  log "installing pnpm $want (found: ${have:-none})"
  # corepack would download pnpm from a host that is not always reachable; npm's registry is.
  npm install -g "pnpm@$want" --no-fund --no-audit >/dev/null
fi

# onnxruntime-node's postinstall fetches CUDA files from an unreachable host; the CPU build
# ships inside the package (pnpm does not run it either: see pnpm-workspace.yaml).
export ONNXRUNTIME_NODE_INSTALL=skip
log "installing dependencies"
pnpm install --frozen-lockfile --prefer-offline

# The web app's browser tests (packages/web/test) drive Debian's Chromium with playwright-core,
# which downloads no browser. Installed as root (CI); elsewhere, say what is missing.
if ! command -v chromium >/dev/null 2>&1 && [ -z "${HITL_TEST_CHROMIUM:-}" ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    log "installing chromium (the web app's browser tests)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    log "chromium is missing: install it (apt-get install chromium) or set HITL_TEST_CHROMIUM"
  fi
fi

# The review API's fuzz test (services/review-api/test/fuzz.test.ts) runs schemathesis from PyPI.
bash scripts/fuzz-api.sh install
