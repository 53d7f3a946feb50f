#!/usr/bin/env bash
# The system's main job end to end on this machine: installs what is missing, starts Kafka and
# Postgres (deploy/local/stack.sh), applies the migrations, creates the topics, then runs
# `pnpm replay` with the arguments given here, which starts the four services and streams the
# SpamAssassin corpus (or a file of yours) through them with simulated reviewers, from a cold
# start, and writes its report under reports/. `pnpm replay --help` lists the options.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/stack-env.sh"

pnpm run --silent migrate
# The review API serves the web app from its build (at /app/).
pnpm --silent --filter @hitl/web build
pnpm run --silent topics create
exec pnpm --silent replay "$@"
