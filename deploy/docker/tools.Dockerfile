# The tools image: hitl/tools. Build from the repository root (see deploy/README.md):
#   docker build -f deploy/docker/tools.Dockerfile -t hitl/tools .
# One-shot commands for deploy jobs and operators, one bundle each in dist/:
#   node dist/migrate.js up          the schema migrations (packages/db; SQL files in migrations/)
#   node dist/topics.js create       the catalog's topics (packages/kafka)
#   node dist/hitl.js <command>      the hitl command: models, policies, reviewers, keys
# Built as the service images are (see services/inference/Dockerfile), from @hitl/cli, whose
# production dependencies cover the three.
# Node 26, the Active LTS, pinned to its multi-platform index; deploy/scripts/pin-images.sh moves
# the digest to what the tag points at now.
ARG NODE_IMAGE=node:26-bookworm-slim@sha256:582460f614631b59b824ac6020533b9bf339c7fdf3a6d7db31abb6b4065f0212

FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION=10.34.8
ENV CI=true ONNXRUNTIME_NODE_INSTALL=skip
RUN npm install --global pnpm@${PNPM_VERSION}
WORKDIR /repo
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch
COPY . .
RUN pnpm install --offline --frozen-lockfile
RUN pnpm --filter @hitl/cli deploy --prod --offline \
      --config.inject-workspace-packages=true --config.node-linker=hoisted /app \
  && pnpm --filter @hitl/deploy run bundle tools /app

FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && apt-get install --yes --no-install-recommends tini \
  && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/migrations ./migrations
USER 1000:1000
# Commands that run and exit: nothing to probe.
HEALTHCHECK NONE
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "--enable-source-maps", "dist/hitl.js"]
