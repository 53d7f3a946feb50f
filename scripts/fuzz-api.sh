#!/usr/bin/env bash
# Fuzzes a running review API against its own OpenAPI document with schemathesis (pinned in
# fuzz-api.requirements.txt, installed from PyPI into .venv/ at the repository root).
#
#   fuzz-api.sh install   create or update .venv/ (scripts/bootstrap.sh runs this)
#   fuzz-api.sh run       three passes, each bounded in time: with FUZZ_ADMIN_KEY, with
#                         FUZZ_REVIEWER_KEY, and with no key at all; exits 1 if any pass failed
#
# `run` reads FUZZ_URL (the API's base URL), FUZZ_ADMIN_KEY, FUZZ_REVIEWER_KEY, FUZZ_REPORT_DIR
# (one JSON report per pass, default .test-results/fuzz), FUZZ_MAX_SECONDS (per keyed pass,
# default 60; the keyless pass gets a third) and FUZZ_SEED (to replay a run). The API is started
# with its keys and data by services/review-api/test/fuzz.test.ts, which is how CI runs this.
#
# Every pass checks: no 5xx, and every status, content type and body is one the document gives
# for the operation. The keyed passes also resend each request that succeeded without its key and
# with a made-up one (ignored_auth); the keyless pass fails on any 2xx.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$root/.venv"
requirements="$root/scripts/fuzz-api.requirements.txt"

log() { printf '[fuzz-api] %s\n' "$*" >&2; }
die() { printf '[fuzz-api] error: %s\n' "$*" >&2; exit 1; }

install() {
  if [[ ! -x "$venv/bin/python" ]]; then
    if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
      # Debian splits venv and ensurepip out of python3; as root we add them, as stack.sh adds Postgres.
      if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "apt-get install -y python3 python3-venv"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 </dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv >&2 </dev/null
      else
        die "Python 3 with its venv module is needed: apt-get install python3 python3-venv"
      fi
    fi
    log "creating $venv"
    python3 -m venv "$venv"
  fi
  # Reinstall only when the pins changed: the stamp holds the hash of the requirements installed.
  local want have
  want="$(sha256sum "$requirements" | cut -c1-64)"
  have="$(cat "$venv/.fuzz-api-requirements" 2>/dev/null || true)"
  if [[ "$want" != "$have" ]]; then
    log "installing $(grep -m1 '^schemathesis==' "$requirements") and its pinned dependencies"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    printf '%s\n' "$want" >"$venv/.fuzz-api-requirements"
  fi
}

run() {
  : "${FUZZ_URL:?FUZZ_URL: the base URL of the review API}"
  : "${FUZZ_ADMIN_KEY:?FUZZ_ADMIN_KEY: the key of an admin}"
  : "${FUZZ_REVIEWER_KEY:?FUZZ_REVIEWER_KEY: the key of a reviewer}"
  local reports="${FUZZ_REPORT_DIR:-$root/.test-results/fuzz}" seconds="${FUZZ_MAX_SECONDS:-60}"
  install
  rm -rf "$reports"
  mkdir -p "$reports"
  # schemathesis and hypothesis keep their state (.schemathesis/, .hypothesis/) where they run.
  cd "$reports"
  # Serializers for the document's media types schemathesis lacks (scripts/fuzz_hooks.py).
  export SCHEMATHESIS_HOOKS=fuzz_hooks PYTHONPATH="$root/scripts${PYTHONPATH:+:$PYTHONPATH}"

  # The run's own keys must keep working: no revoking keys, no disabling reviewers.
  local common=(
    "${FUZZ_URL%/}/openapi.json"
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,ignored_auth
    --exclude-path '/v1/admin/keys/{keyId}'
    --exclude-path '/v1/admin/reviewers/{reviewerId}/disable'
    # One worker: hypothesis, under schemathesis' threads, now and then fails inside itself.
    --workers 1
    --request-timeout 30
    --suppress-health-check all
    --no-color
  )
  [[ -n "${FUZZ_SEED:-}" ]] && common+=(--seed "$FUZZ_SEED")

  local failed=()
  pass() {
    local name="$1"
    shift
    log "pass '$name': up to $1 s"
    if ! "$venv/bin/schemathesis" run "${common[@]}" --max-time "$@" \
      --report json --report-json-path "$reports/$name.json"; then
      failed+=("$name")
    fi
  }
  pass admin "$seconds" -H "Authorization: Bearer $FUZZ_ADMIN_KEY"
  pass reviewer "$seconds" -H "Authorization: Bearer $FUZZ_REVIEWER_KEY"
  # Every operation in the document needs a key: without one, any 2xx is a route left open.
  pass anonymous "$(( (seconds + 2) / 3 ))"

  if [[ ${#failed[@]} -gt 0 ]]; then
    log "failed: ${failed[*]} (reports in $reports)"
    return 1
  fi
  log "all passes clean (reports in $reports)"
}

case "${1:-}" in
  install) install ;;
  run) run ;;
  *) die "usage: $0 install|run" ;;
esac
