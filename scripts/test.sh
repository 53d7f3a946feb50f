#!/usr/bin/env bash
# Runs the whole test suite on the real broker and database: installs what is missing, brings
# up the local stack (deploy/local/stack.sh), checks types, lint and format, then runs the tests.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack-env.sh"

pnpm run --silent warm
pnpm run lint
pnpm run format:check
pnpm test
