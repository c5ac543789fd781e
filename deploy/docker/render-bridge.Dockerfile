# goassist-render-bridge image (render pod, Profile C): face frames in on UDP 11112, Live Link
# out to Unreal on 11111, /healthz /readyz /metrics on 9465. Small Debian runtime, non-root.
# A container listens on every interface, so the image accepts face frames only from private
# addresses (BRIDGE_ALLOWED_SENDERS); set it to your inference pods' addresses or network
# (docs/render-bridge.md, "Who may send").
#
#   docker build -f deploy/docker/render-bridge.Dockerfile -t goassist-render-bridge .
FROM rust:1.95-bookworm AS build
ARG GOASSIST_GIT_REVISION=unknown
ENV GOASSIST_GIT_REVISION=${GOASSIST_GIT_REVISION}
RUN apt-get update -q && apt-get install -y -q --no-install-recommends cmake libclang-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p goassist-render-bridge \
 && install -D target/release/goassist-render-bridge /out/goassist-render-bridge

FROM debian:bookworm-slim
RUN apt-get update -q && apt-get install -y -q --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 goassist \
 && useradd --system --uid 10001 --gid 10001 --home-dir /workspace --shell /usr/sbin/nologin goassist \
 && mkdir -p /workspace/logs && chown goassist /workspace/logs
COPY --from=build /out/goassist-render-bridge /usr/local/bin/goassist-render-bridge
COPY deploy/docker/entrypoint.sh /usr/local/bin/goassist-entrypoint
ENV GOASSIST_SERVICE=render-bridge LOG_DIR=/workspace/logs \
    BRIDGE_INGEST_ADDR=0.0.0.0:11112 BRIDGE_HTTP_ADDR=0.0.0.0:9465 \
    BRIDGE_ALLOWED_SENDERS=10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,fc00::/7
# Numeric, so that Kubernetes can check runAsNonRoot against it.
USER 10001:10001
WORKDIR /workspace
VOLUME ["/workspace/logs"]
EXPOSE 11112/udp 9465/tcp
# The shell form: `|| exit 1` maps any curl failure to the one "unhealthy" status Docker defines.
# hadolint ignore=DL3025
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:9465/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/goassist-entrypoint"]
CMD ["goassist-render-bridge"]
