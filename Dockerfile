# syntax=docker/dockerfile:1
#
# One multi-stage file for every phigate image. Every workspace is built once (stage `build`);
# each runtime image then carries only its own workspace's compiled code, the shared packages it
# links to, and its production dependencies. Pick the workspace with build arguments:
#
#   docker build --target runtime --build-arg WORKSPACE=services/gateway --build-arg HEALTH_PORT=8080 -t phigate/gateway .
#
# WORKSPACE    services/{gateway,policy,masking,approval,audit} or deploy/local/{dev-idp,slack-sink,warehouse}
# HEALTH_PORT  the port serving GET /healthz (gateway 8080, policy 8091, masking 8092, approval 8081,
#              audit 8082, dev-idp 9400, slack-sink 9401, warehouse 9402)
#
# The runtime runs as uid/gid 1000 (non-root, numeric so Kubernetes can verify runAsNonRoot), writes
# nothing outside /tmp (mount a tmpfs/emptyDir there with a read-only root filesystem), and holds no
# secret: configuration and secrets arrive at run time as environment variables and *_FILE mounts.
# See docs/deploy.md.

ARG NODE_IMAGE=node:24.9.0-bookworm-slim

FROM ${NODE_IMAGE} AS base
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false TURBO_TELEMETRY_DISABLED=1
WORKDIR /src

# Only the package manifests, so `npm ci` layers are reused until a dependency changes.
FROM base AS manifests
COPY . /ctx
RUN mkdir -p /out \
  && cd /ctx \
  && find . -name package.json -not -path '*/node_modules/*' -exec cp --parents {} /out/ \; \
  && cp package-lock.json /out/

# Every dependency (dev included) and the build of every workspace, in dependency order (turbo).
# --ignore-scripts: no install script runs; phigate needs none (libpg-query is WebAssembly,
# platform binaries come as optional dependencies).
FROM base AS build
COPY --from=manifests /out/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --ignore-scripts
COPY . .
RUN node_modules/.bin/turbo run build --output-logs=errors-only

# Production dependencies of one workspace only.
FROM base AS prod-deps
ARG WORKSPACE
ARG HEALTH_PORT
RUN test -n "${WORKSPACE}" && test -n "${HEALTH_PORT}" \
  || (echo 'build arguments WORKSPACE and HEALTH_PORT are required, e.g. services/gateway and 8080' >&2 && exit 1)
COPY --from=manifests /out/ ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts --workspace "${WORKSPACE}"

# The runtime tree: those dependencies, the shared packages' and the workspace's compiled code
# (tests left out), and the workspace's JSON data files (e.g. the dev IdP's clients.json).
FROM prod-deps AS assemble
ARG WORKSPACE
COPY --from=build /src /build
RUN set -eu; \
  mkdir -p /out; \
  cp -a node_modules package.json /out/; \
  for d in packages/* "${WORKSPACE}"; do \
    mkdir -p "/out/$d"; \
    cp "/build/$d/package.json" "/out/$d/"; \
    cp -a "/build/$d/dist" "/out/$d/"; \
    if [ -d "$d/node_modules" ]; then cp -a "$d/node_modules" "/out/$d/"; fi; \
  done; \
  find "/build/${WORKSPACE}" -maxdepth 1 -name '*.json' ! -name 'package.json' ! -name 'tsconfig*.json' -exec cp {} "/out/${WORKSPACE}/" \; ; \
  find /out -path '*/dist/*' \( -name '*.test.js' -o -name '*.test.js.map' -o -name '*.test.d.ts' -o -name '*.tsbuildinfo' \) -delete; \
  find /out -path '*/dist/test' -type d -prune -exec rm -rf {} +

FROM ${NODE_IMAGE} AS runtime
ARG WORKSPACE
ARG HEALTH_PORT
LABEL org.opencontainers.image.title="phigate ${WORKSPACE}"
ENV NODE_ENV=production \
    PHIGATE_HEALTH_URL=http://127.0.0.1:${HEALTH_PORT}/healthz
COPY --from=assemble --chown=0:0 /out/ /app/
WORKDIR /app/${WORKSPACE}
# The `node` user of the base image, by number.
USER 1000:1000
STOPSIGNAL SIGTERM
# Liveness only (/healthz); orchestrators gate traffic on /readyz themselves (compose healthcheck,
# Kubernetes readinessProbe).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.PHIGATE_HEALTH_URL).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "--enable-source-maps", "--disable-warning=TimeoutNegativeWarning"]
CMD ["dist/src/main.js"]
