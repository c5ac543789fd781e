# goassist-inference image on the runbook's pod base (docs/runbook.md §7.1):
# build on nvidia/cuda:12.1.0-devel-ubuntu22.04 with the project's own scripts/setup.sh, run on
# the matching CUDA runtime image as a non-root user. No model weights inside: the models volume
# is mounted read-only at /workspace/models (runbook §8.4), logs go to /workspace/logs.
#
#   docker build -f deploy/docker/inference.Dockerfile -t goassist-inference .
#   docker run --gpus all --network host -v /workspace/models:/workspace/models:ro \
#     -v /workspace/logs:/workspace/logs -e MAX_CONCURRENT_SESSIONS=4 goassist-inference
ARG CUDA_DEVEL=nvidia/cuda:12.1.0-devel-ubuntu22.04
ARG CUDA_RUNTIME=nvidia/cuda:12.1.0-runtime-ubuntu22.04

FROM ${CUDA_DEVEL} AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG RUST_VERSION=1.95.0
ARG GOASSIST_GIT_REVISION=unknown
ENV DEBIAN_FRONTEND=noninteractive CARGO_HOME=/usr/local/cargo RUSTUP_HOME=/usr/local/rustup \
    PATH=/usr/local/cargo/bin:$PATH GOASSIST_GIT_REVISION=${GOASSIST_GIT_REVISION}
RUN apt-get update -q && apt-get install -y -q --no-install-recommends curl ca-certificates \
 && curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --default-toolchain ${RUST_VERSION} \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The same set-up an operator runs on a bare pod (runtime set only: no browsers, no test tools).
RUN scripts/setup.sh --runtime --no-build \
 && cargo build --release --locked -p goassist-inference \
 && install -D target/release/goassist-inference /out/goassist-inference

FROM ${CUDA_RUNTIME}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
      libespeak-ng1 espeak-ng-data libgomp1 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 goassist \
 && useradd --system --uid 10001 --gid 10001 --home-dir /workspace --shell /usr/sbin/nologin goassist \
 && mkdir -p /workspace/models /workspace/logs && chown goassist /workspace/logs
COPY --from=build /out/goassist-inference /usr/local/bin/goassist-inference
COPY deploy/docker/entrypoint.sh /usr/local/bin/goassist-entrypoint
COPY deploy/docker/check_models.sh /usr/local/bin/goassist-check-models
ENV GOASSIST_SERVICE=inference MODELS_DIR=/workspace/models LOG_DIR=/workspace/logs \
    LLM_MODEL_PATH=llm/qwen2.5-0.5b-instruct-q8.gguf ASR_MODEL_PATH=asr/moonshine-base-en \
    TTS_ENGINE=piper TTS_MODEL_PATH=tts/piper/en_US-joe-medium.onnx \
    API_HOST=0.0.0.0 API_PORT=8081 METRICS_PORT=9464
# Numeric, so that Kubernetes can check runAsNonRoot against it.
USER 10001:10001
WORKDIR /workspace
VOLUME ["/workspace/models", "/workspace/logs"]
EXPOSE 8081/tcp 9464/tcp 9000-9200/udp
STOPSIGNAL SIGTERM
# The shell form: `|| exit 1` maps any curl failure to the one "unhealthy" status Docker defines.
# hadolint ignore=DL3025
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s CMD curl -fsS http://127.0.0.1:8081/healthz || exit 1
ENTRYPOINT ["/usr/local/bin/goassist-entrypoint"]
CMD ["goassist-inference"]
