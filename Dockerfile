# syntax=docker/dockerfile:1
# The image manifests/ runs: the `tend` command (dist/cli/main.js) on Node.js, as uid 65532, writing
# nothing outside the volumes the manifests mount (readOnlyRootFilesystem: true). Its entrypoint is
# tend, so a container's args are tend's: `run …` for the controllers, `edge …` for the edge.
#
#   docker build -t ghcr.io/tend-dev/tend:0.1.0 .
#
# test/unit/deploy/dockerfile.test.ts checks what can be checked without a Docker engine: every
# path copied exists and is let through .dockerignore, the sources the CLI imports are all copied,
# and the entrypoint is the file `npm run build` writes for bin.tend.

# Node.js 22 in both stages, on Debian 12: the same C library where the runtime loads what the build installed.
FROM node:22-bookworm-slim AS build
WORKDIR /src
# Dependencies first, so this layer is reused until the lockfile changes. --ignore-scripts: the
# `prepare` script (npm run build) cannot run before the sources are here, and no dependency tend
# runs in a cluster needs an install script (only tend up's embedded PostgreSQL has one).
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY agents/ agents/
COPY api/ api/
COPY certificates/ certificates/
COPY cli/ cli/
COPY controllers/ controllers/
COPY framework/ framework/
COPY migrations/ migrations/
COPY overlay/ overlay/
COPY reconcilers/ reconcilers/
COPY secrets/ secrets/
RUN npm run build
# What runs, only: no devDependencies (TypeScript, vitest) and no optional ones — the embedded
# PostgreSQL binaries of `tend up` (60 MB) and pg's Cloudflare socket, neither used in a cluster.
RUN npm prune --omit=dev --omit=optional --no-audit --no-fund

# distroless: Node.js and the C library, no shell, no package manager; :nonroot is uid 65532, the
# runAsUser of the manifests.
FROM gcr.io/distroless/nodejs22-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/dist/ dist/
# The JSON Schemas tend validate and admission read at run time (api/load-schema.ts finds them next to dist/).
COPY schemas/ schemas/
# Numeric, so the kubelet can verify runAsNonRoot without looking the name up.
USER 65532:65532
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/cli/main.js"]
CMD ["--help"]
