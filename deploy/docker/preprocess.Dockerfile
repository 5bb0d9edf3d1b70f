# syntax=docker/dockerfile:1
#
# preprocess_svc: the CPU-only dataset preprocessor.
# Build from the repository root (the build context must be the repo root):
#   docker build -f deploy/docker/preprocess.Dockerfile -t ltx-trainer/preprocess-svc:0.1.0 .
#
# No torch in this image: preprocess_svc imports grpc, numpy, safetensors, PyAV and the static ffmpeg
# binary that ships inside the imageio-ffmpeg wheel (so no apt ffmpeg); scenedetect-headless runs on
# opencv-python-headless (so no libGL). Its dependencies are listed in preprocess-requirements.txt and
# the project is installed with --no-deps, because pyproject.toml's dependency list includes the
# training stack (torch, diffusers, transformers, ...).

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: a virtualenv with the dependencies and the project -----------------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

COPY deploy/docker/preprocess-requirements.txt /tmp/preprocess-requirements.txt
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install -r /tmp/preprocess-requirements.txt

WORKDIR /src
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY preprocess_svc ./preprocess_svc
COPY train_svc ./train_svc
# the import check fails the build if preprocess_svc ever needs a module this image lacks (torch, say)
RUN --mount=type=cache,target=/root/.cache/pip \
    pip install --no-deps . \
 && python -c "import preprocess_svc.__main__"

# ---- runtime ------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --gid 10001 app \
 && useradd --uid 10001 --gid 10001 --create-home --home-dir /home/app --shell /usr/sbin/nologin app \
 && mkdir -p /var/lib/ltx/storage \
 && chown 10001:10001 /var/lib/ltx/storage

COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PREPROCESS_SVC_HOST=0.0.0.0 \
    PREPROCESS_SVC_PORT=50051 \
    LTX_STORAGE=/var/lib/ltx/storage

# numeric, so that Kubernetes' runAsNonRoot can check it
USER 10001:10001
WORKDIR /home/app
EXPOSE 50051
# no HEALTHCHECK: Kubernetes probes grpc.health.v1.Health directly
ENTRYPOINT ["python", "-m", "preprocess_svc"]
