# syntax=docker/dockerfile:1
#
# train_svc: the GPU training service.
# Build from the repository root (the build context must be the repo root):
#   docker build -f deploy/docker/train.Dockerfile -t ltx-trainer/train-svc:0.1.0 .
#
# torch is pinned to 2.13.0, CUDA 13.0 build (the PyTorch index's cu130 wheels; the PyPI wheel of
# torch 2.13.0 for Linux x86_64 is the same CUDA 13.0 build). GPU nodes need an NVIDIA driver that
# supports CUDA 13.0 (R580 or newer). The wheel brings its own CUDA libraries as pip packages; the
# CUDA base image supplies the NVIDIA container environment (and its own copies of the runtime
# libraries). Ubuntu 24.04's Python is 3.12, which pyproject.toml allows (>=3.11,<3.14).

ARG CUDA_IMAGE=nvidia/cuda:13.0.2-runtime-ubuntu24.04

# ---- build: a virtualenv with torch, the dependencies and the project ----------------------------
FROM ${CUDA_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu130
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# DL3008 (pin apt versions): Ubuntu's archive serves only the current build of a package, so a pinned
# version fails the build at its next security update; the base image's digest is what to pin instead.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

# torch first and alone: the largest layer, rebuilt only when the pin changes. PyPI stays as an extra
# index for torch's own dependencies (cuda-toolkit, nvidia-*); for torch itself pip prefers the
# index's 2.13.0+cu130 over PyPI's plain 2.13.0 (the same CUDA 13.0 build).
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --index-url "${TORCH_INDEX_URL}" --extra-index-url https://pypi.org/simple \
        "torch==${TORCH_VERSION}"

WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY preprocess_svc ./preprocess_svc
COPY train_svc ./train_svc
# the constraint keeps pip from replacing the CUDA torch while it resolves the project's dependencies
RUN --mount=type=cache,target=/root/.cache/pip \
    echo "torch==${TORCH_VERSION}" > /tmp/torch-constraint.txt \
 && pip install --constraint /tmp/torch-constraint.txt . \
 && python -c "import torch; assert torch.version.cuda, 'torch is a CPU build'; print('torch', torch.__version__, 'CUDA', torch.version.cuda)" \
 && python -c "import train_svc.__main__"

# ---- runtime ------------------------------------------------------------------------------------
FROM ${CUDA_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
# DL3008: as in the build stage
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/app --shell /usr/sbin/nologin app \
 && mkdir -p /var/lib/ltx/storage /models \
 && chown 10001:10001 /var/lib/ltx/storage

COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TRAIN_SVC_HOST=0.0.0.0 \
    TRAIN_SVC_PORT=50052 \
    LTX_STORAGE=/var/lib/ltx/storage

# numeric, so that Kubernetes' runAsNonRoot can check it
USER 10001:10001
WORKDIR /home/app
EXPOSE 50052
# no HEALTHCHECK: Kubernetes probes grpc.health.v1.Health directly.
# Still needed at run time: LTX_PREPROCESS_TARGET (HOST:PORT) and LTX_BASE_MODEL (see deploy/README.md).
ENTRYPOINT ["python", "-m", "train_svc"]
