# Two stages: the first builds a wheel and installs it into a virtualenv; the second is the
# same slim Python with only that virtualenv copied in (no pip cache, no sources, no build tools).
# Both stages use one exact base tag, so the venv's interpreter links stay valid. Pin it by
# digest for reproducible builds: python:3.11.11-slim-bookworm@sha256:<digest>.
FROM python:3.11.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# Dependencies ship as binary wheels (pygit2 bundles libgit2 and libssh2): no compiler needed.
COPY pyproject.toml README.md* ./
# reconciler/ alone: the sandbox (reconciler_sandbox/) is a development and test tool, so the
# wheel built here holds no sandbox and `reconciler sandbox`/`demo` say how to install it.
COPY reconciler ./reconciler
RUN python -m venv /opt/reconciler \
    && /opt/reconciler/bin/pip wheel --no-deps --wheel-dir /wheels . \
    && /opt/reconciler/bin/pip install /wheels/*.whl \
    && /opt/reconciler/bin/python -m pip uninstall --yes pip

FROM python:3.11.11-slim-bookworm

LABEL org.opencontainers.image.title="reconciler" \
      org.opencontainers.image.description="GitOps control loop for ML workloads on Kubernetes" \
      org.opencontainers.image.licenses="Apache-2.0"
# --verify-commits checks signatures with gpg (OpenPGP) and ssh-keygen (SSH), as git does.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gnupg openssh-client \
    && rm -rf /var/lib/apt/lists/*
# 65532 is the conventional "nonroot" uid; deploy/deployment.yaml runs as it too.
RUN groupadd --gid 65532 reconciler \
    && useradd --uid 65532 --gid 65532 --home-dir /home/reconciler --create-home \
       --shell /usr/sbin/nologin reconciler
COPY --from=build /opt/reconciler /opt/reconciler
# The root filesystem is read-only in the cluster: byte code was compiled at install time.
ENV PATH=/opt/reconciler/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/home/reconciler
USER 65532:65532
WORKDIR /home/reconciler
EXPOSE 8080
ENTRYPOINT ["reconciler", "run"]
