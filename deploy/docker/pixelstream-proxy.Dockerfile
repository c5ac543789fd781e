# goassist-pixelstream-proxy image (render pod, Profile C): the player page and player WebSocket
# on 8080, Unreal's streamer connection on 8888, /healthz /metrics on 9466. The player page is
# bundled by scripts/setup_pixelstream_frontend.sh (npm, pinned lockfile) in a Node stage.
#
#   docker build -f deploy/docker/pixelstream-proxy.Dockerfile -t goassist-pixelstream-proxy .
FROM node:20-bookworm-slim AS frontend
WORKDIR /src
COPY pixelstream-proxy/frontend pixelstream-proxy/frontend
COPY scripts/setup_pixelstream_frontend.sh scripts/
RUN scripts/setup_pixelstream_frontend.sh

FROM rust:1.95-bookworm AS build
ARG GOASSIST_GIT_REVISION=unknown
ENV GOASSIST_GIT_REVISION=${GOASSIST_GIT_REVISION}
RUN apt-get update -q && apt-get install -y -q --no-install-recommends cmake libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p goassist-pixelstream-proxy \
 && install -D target/release/goassist-pixelstream-proxy /out/goassist-pixelstream-proxy

FROM debian:bookworm-slim
RUN apt-get update -q && apt-get install -y -q --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 goassist \
 && useradd --system --uid 10001 --gid 10001 --home-dir /workspace --shell /usr/sbin/nologin goassist \
 && mkdir -p /workspace/logs && chown goassist /workspace/logs
COPY --from=build /out/goassist-pixelstream-proxy /usr/local/bin/goassist-pixelstream-proxy
COPY --from=frontend /src/pixelstream-proxy/frontend/dist /opt/goassist/player
COPY deploy/docker/entrypoint.sh /usr/local/bin/goassist-entrypoint
ENV GOASSIST_SERVICE=pixelstream-proxy LOG_DIR=/workspace/logs PS_FRONTEND_DIR=/opt/goassist/player \
    PS_PLAYER_BIND=0.0.0.0 PS_PLAYER_PORT=8080 PS_STREAMER_BIND=0.0.0.0 PS_STREAMER_PORT=8888 \
    PS_ADMIN_BIND=0.0.0.0 PS_ADMIN_PORT=9466
# Numeric, so that Kubernetes can check runAsNonRoot against it.
USER 10001:10001
WORKDIR /workspace
VOLUME ["/workspace/logs"]
EXPOSE 8080/tcp 8888/tcp 9466/tcp
# The shell form: `|| exit 1` maps any curl failure to the one "unhealthy" status Docker defines.
# hadolint ignore=DL3025
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:9466/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/goassist-entrypoint"]
CMD ["goassist-pixelstream-proxy"]
