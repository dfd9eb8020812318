# syntax=docker/dockerfile:1.7
# modelserve operator image. Build: docker build -t ghcr.io/modelserve/modelserve:0.1.0 .
# Base pinned to an exact Python patch release (update deliberately; no floating tags).
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

# ---- builder: build the project wheel and wheels of every runtime dependency ----
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# Only what the wheel needs (see .dockerignore): metadata first, then the package.
COPY pyproject.toml README.md ./
COPY operator/ ./operator/
RUN pip wheel --no-deps --wheel-dir /dist . \
 && pip wheel --wheel-dir /wheels /dist/modelserve-*.whl

# ---- runtime: only the wheels, installed offline, running as a non-root user ----
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="modelserve" \
      org.opencontainers.image.description="Kubernetes operator that serves ML models" \
      org.opencontainers.image.source="https://github.com/modelserve/modelserve" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels modelserve \
 && groupadd --system --gid 65532 modelserve \
 && useradd --system --uid 65532 --gid 65532 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin modelserve
USER 65532:65532
# metrics (GET /metrics) and liveness (GET /healthz)
EXPOSE 8080 8081
ENTRYPOINT ["modelserve", "run"]
