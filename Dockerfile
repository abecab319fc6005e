# syntax=docker/dockerfile:1.7
#
# NimbusFleet: one image for every role of the distributed mode. The entrypoint is the
# `nimbusfleet` binary; the command picks the role:
#
#   docker run IMAGE                         # = serve: the HTTP API and the dashboard on :8080
#   docker run IMAGE ingest                  # a Kafka ingest worker (/metrics, /health on :9464)
#   docker run IMAGE migrate                 # catalog and shard migrations, then exit
#   docker run IMAGE admin create-topics     # the Kafka topics, then exit
#   docker run IMAGE simulate --url … --email … --drones 100
#   docker run -p 8080:8080 IMAGE serve --demo --simulate 5   # embedded mode, SQLite in the workdir
#
# Build (BuildKit, the default builder of Docker ≥ 23):
#
#   docker build -t nimbusfleet:local \
#     --build-arg SOURCE=https://git.example.com/your-org/nimbusfleet \
#     --build-arg VERSION="$(git describe --tags --always)" \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .
#
# The cargo registry, git checkouts and target directory live in BuildKit cache mounts, so a
# rebuild after a code change recompiles only the workspace crates, not the dependencies.

# Toolchain and base images. `rust:1-…` is the newest stable Rust (the workspace needs ≥ 1.85);
# pin a version (e.g. RUST_VERSION=1.85) for reproducible builds. The builder and the runtime
# share the Debian release so that the binary finds the glibc it was linked against.
ARG RUST_VERSION=1
ARG NODE_VERSION=20
ARG DEBIAN_RELEASE=bookworm

############################################################################################
# 1. The binary
############################################################################################
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder

# rdkafka's `cmake-build` feature compiles librdkafka from source: it needs CMake, a C/C++
# compiler, make and pkg-config (to find zlib). libcurl's headers match scripts/test-env.sh,
# so enabling rdkafka's `curl` feature (OAUTHBEARER/OIDC) later needs no Dockerfile change.
# The apt caches are BuildKit cache mounts; docker-clean is removed so that apt keeps them.
RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt,sharing=locked \
    rm -f /etc/apt/apt.conf.d/docker-clean \
 && apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        cmake g++ make pkg-config libcurl4-openssl-dev zlib1g-dev

WORKDIR /src
# The whole workspace (.dockerignore leaves out target/, node_modules, data and the
# deployment files): every member crate must be present for `--locked` to resolve.
COPY . .

# `--bin nimbusfleet` (no `-p`) finds the binary in whichever workspace crate defines it.
# The target directory is a cache mount, so the binary is copied out within the same step.
ENV CARGO_TARGET_DIR=/src/target \
    CARGO_TERM_COLOR=never
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked --bin nimbusfleet \
 && install -D -m 0755 target/release/nimbusfleet /out/nimbusfleet \
 && strip --strip-debug /out/nimbusfleet \
 && /out/nimbusfleet --version

############################################################################################
# 2. The dashboard (frontend/dist)
############################################################################################
FROM node:${NODE_VERSION}-${DEBIAN_RELEASE}-slim AS dashboard

WORKDIR /src/frontend
# Dependencies first, so that a source change does not reinstall them.
COPY frontend/package.json frontend/package-lock.json ./
RUN --mount=type=cache,target=/root/.npm,sharing=locked \
    npm ci --no-audit --no-fund
# `npm run build` generates the API types from ../openapi/openapi.json first (prebuild).
COPY openapi/ /src/openapi/
COPY frontend/ ./
RUN npm run build

############################################################################################
# 3. The runtime
############################################################################################
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

ARG DEBIAN_RELEASE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
# The repository URL, e.g. --build-arg SOURCE=https://git.example.com/nimbusfleet.
ARG SOURCE=""
LABEL org.opencontainers.image.title="NimbusFleet" \
      org.opencontainers.image.description="Drone fleet management backend: API, dashboard, Kafka ingest worker, migrations and fleet simulator in one binary" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.vendor="NimbusFleet" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="docker.io/library/debian:${DEBIAN_RELEASE}-slim"

# ca-certificates: TLS to managed PostgreSQL, Redis and Kafka endpoints.
# libcurl4: what librdkafka links against when its curl support is enabled.
# curl: the HEALTHCHECK below (the binary has no health sub-command).
# coreutils (`sleep`, used by a Kubernetes exec preStop hook on clusters older than 1.30)
# is part of the base image.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        ca-certificates libcurl4 curl \
 && rm -rf /var/lib/apt/lists/*

# A fixed non-root uid/gid (10001), which Kubernetes' runAsUser and fsGroup name too. Its
# home is the working directory: in embedded mode (no storage URLs) the SQLite files go to
# ./data there; mount a volume on /var/lib/nimbusfleet to keep them.
RUN groupadd --system --gid 10001 nimbus \
 && useradd --system --uid 10001 --gid nimbus --home-dir /var/lib/nimbusfleet \
        --no-create-home --shell /usr/sbin/nologin nimbus \
 && install -d -o nimbus -g nimbus -m 0750 /var/lib/nimbusfleet

COPY --from=builder /out/nimbusfleet /usr/local/bin/nimbusfleet
COPY --from=dashboard /src/frontend/dist/ /usr/share/nimbusfleet/dashboard/

# Defaults for a container; every setting can be overridden with NIMBUS__SECTION__KEY
# variables (compose environment, Kubernetes ConfigMap/Secret).
#   SERVER__BIND         listen on every interface (the binary's default is loopback only)
#   SERVER__DASHBOARD_DIR the dashboard baked in above
#   INGEST__BIND         where `nimbusfleet ingest` serves /metrics and /health/*
#   LOG__FORMAT          one JSON object per line, for log collectors
ENV NIMBUS__SERVER__BIND=0.0.0.0:8080 \
    NIMBUS__SERVER__DASHBOARD_DIR=/usr/share/nimbusfleet/dashboard \
    NIMBUS__INGEST__BIND=0.0.0.0:9464 \
    NIMBUS__LOG__FORMAT=json

WORKDIR /var/lib/nimbusfleet
USER 10001:10001

# 8080: the API, the dashboard and its /metrics; 9464: an ingest worker's /metrics and /health.
EXPOSE 8080 9464

# For `serve`. One-shot roles (migrate, admin, simulate) and ingest workers (port 9464)
# override or disable it (see docker-compose.yml); Kubernetes ignores it and uses its probes.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8080/health/live || exit 1

# SIGTERM (docker stop, Kubernetes) starts the graceful drain (server.shutdown_timeout_s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["nimbusfleet"]
CMD ["serve"]
