#!/usr/bin/env bash
# Runs the whole test suite on the real broker and database: installs what is missing, brings
# up the local stack (deploy/local/stack.sh), checks types, lint and format, then runs the tests.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/bootstrap.sh
bash deploy/local/stack.sh up >/dev/null
eval "$(bash deploy/local/stack.sh env)"
export KAFKA_BROKERS DATABASE_URL

pnpm run --silent warm
pnpm run lint
pnpm run format:check
pnpm test
