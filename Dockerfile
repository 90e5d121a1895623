# One image for every entry point of the backend (see docs/deploy.md):
#   docker build -t kfrm-backend:dev .
#   docker run kfrm-backend:dev                                   all services in one process
#   docker run kfrm-backend:dev dist/migrate.mjs                  apply migrations and exit
#   docker run kfrm-backend:dev dist/services/tab-menu.mjs        one service alone
# The argument is a bundle `pnpm build` made from a TypeScript entry point (scripts/build.ts):
# plain JavaScript starts in about half the time of loading the TypeScript through tsx
# (docs/performance.md, "Start and recovery"), which is what a restart costs in an outage.

ARG NODE_IMAGE=node:20-bookworm-slim

# --- deps: the workspace with its node_modules, installed from the lockfile ------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
RUN npm install --global pnpm@10
# The lockfile alone decides what is downloaded, so this layer stays cached until it changes.
COPY pnpm-lock.yaml pnpm-workspace.yaml ./
RUN pnpm fetch
COPY . .
# Development dependencies stay: esbuild builds the bundles, and tsx runs the operator tools
# (unlock-cli, deposit-cli) as TypeScript.
RUN pnpm install --frozen-lockfile --offline \
 && pnpm build

# --- runtime ---------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# tini runs as PID 1: it forwards SIGTERM to node (which then drains both listeners, see
# onShutdownSignal in @kfrm/server-kit) and reaps zombies.
RUN apt-get update \
 && apt-get install --yes --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 kfrm \
 && useradd --system --uid 10001 --gid kfrm --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin kfrm \
 && mkdir -p /var/lib/kfrm \
 && chown kfrm:kfrm /var/lib/kfrm
WORKDIR /app
# Owned by root and not writable by the service user: the code cannot be changed at run time.
COPY --from=deps /app /app

ENV NODE_ENV=production \
    KFRM_DATA_DIR=/var/lib/kfrm \
    KFRM_MOBILE_LISTEN=0.0.0.0:50051 \
    KFRM_INTERNAL_LISTEN=0.0.0.0:50052
# mobile listener (TLS), internal listener (plaintext, service to service), edge listener (mTLS
# from the edge, when KFRM_EDGE_LISTEN is set: docker-compose and Kubernetes set 0.0.0.0:50061)
EXPOSE 50051 50052 50061
# A numeric user, so Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001

# grpc.health.v1 on the internal listener (plaintext, so no CA is needed here); compose also
# checks the mobile listener over TLS. Kubernetes uses its native grpc probes instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "dist/grpc-health-check.mjs", "--timeout-ms", "3000"]

# One node process, so SIGTERM from tini reaches the code directly. No --enable-source-maps
# (ADR 0023): logged stacks name bundle positions, which `node dist/map-stack.mjs` maps back to
# the TypeScript; NODE_OPTIONS=--enable-source-maps turns Node's own mapping on for one container.
ENTRYPOINT ["/usr/bin/tini", "--", "node"]
CMD ["dist/backend.mjs"]
