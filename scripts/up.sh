#!/usr/bin/env bash
# Brings the system up on this machine: installs what is missing, starts Kafka and Postgres
# (deploy/local/stack.sh), applies the database migrations and creates the topics.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack-env.sh"

pnpm run --silent migrate
pnpm run --silent topics create
pnpm run --silent topics list
echo
echo "Kafka and Postgres are up. For your shell:"
bash deploy/local/stack.sh env
