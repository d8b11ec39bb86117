# syntax=docker/dockerfile:1
# EdgeKE: `edgeke run flows/` by default. The device simulators run from the same image with another command
# (docker-compose.yml). Sources run through tsx, a runtime dependency, so there is no compile step in the image.

# Node 24, the active LTS (Node 20 reached end of life on 2026-04-30), pinned to a release so a rebuild gets the same
# runtime; CI and development still run on Node 20 (package.json engines), the oldest the code supports.
ARG NODE_IMAGE=node:24.11.1-bookworm-slim

# ---- build: install production dependencies (native modules resolve their prebuilt binaries for this platform) ----
FROM ${NODE_IMAGE} AS build
WORKDIR /app
# A toolchain only for a native module that falls back to compiling (the optional @tensorflow/tfjs-node); it does
# not reach the runtime image.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# .npmrc skips onnxruntime-node's download of GPU extras (its CPU binaries ship in the package).
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-fund --no-audit

# ---- runtime: no compilers, no package caches, a non-root user ----
FROM ${NODE_IMAGE} AS runtime
# MALLOC_ARENA_MAX: native buffers (MQTT payloads, ONNX Runtime outputs) freed from several threads would otherwise
# spread over many malloc arenas, and RSS creeps by tens of MiB with no memory held.
# --v8-pool-size=1: inference runs on the main thread, and V8's default four helper threads (concurrent marking and
# sweeping) on a 2-core box now and then deschedule it for a scheduler tick, ~4 ms, against deadlines of ~10 ms.
# --max-semi-space-size=1: model outputs are fresh arrays outside the JS heap (240 KB a camera frame); with the default
# young generation they outgrew V8's external-memory limit between two scavenges and forced a full collection every
# ~150 ms at 400 fr/s. Scavenged every MiB, they die young: a quarter of the full collections, less CPU per frame.
ENV NODE_ENV=production \
    MALLOC_ARENA_MAX=2 \
    NODE_OPTIONS="--v8-pool-size=1 --max-semi-space-size=1" \
    EDGEKE_HTTP_HOST=0.0.0.0 \
    EDGEKE_HTTP_PORT=9464
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY package.json ./
COPY bin ./bin
COPY src ./src
COPY flows ./flows
COPY models ./models
# Test splits the device simulators replay (data/<dataset>/test).
COPY data ./data
# The code stays root-owned and read-only to the service; it writes only its caches, its write-ahead logs and OPC UA
# PKI. The logs (what was acknowledged and is not yet in InfluxDB) go under /app/spill, the volume docker-compose.yml
# mounts there, so they survive the container: $EDGEKE_STATE_DIR/wal/<flow> (or a flow's sinks.influx.walDir).
ENV EDGEKE_STATE_DIR=/app/spill
RUN mkdir -p .cache spill pki && chown node:node .cache spill pki
USER node
# /metrics, /healthz, /readyz (src/telemetry/http-server.ts).
EXPOSE 9464
# The slim image has no curl: ask Node. /healthz means "process alive"; readiness is /readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.EDGEKE_HTTP_PORT || '9464') + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "bin/edgeke.js", "run", "flows/"]
