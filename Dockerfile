# The cluster-init image: the CLI on Python, run by the bundle's pivot Job (`cluster-init pivot`).
#   docker build -t ghcr.io/t6306/cluster-init:v0.1.0 .
# Only this package and its runtime dependencies: the pivot needs neither helm nor kustomize.
#
# Offline (the test stack): BASE is a Debian image with python3 and python3-venv, and PIP_ARGS points pip at
# a wheelhouse/ folder placed in the build context: --build-arg PIP_ARGS="--no-index --find-links=/src/wheelhouse"
ARG BASE=python:3.12-slim-bookworm

FROM ${BASE} AS build
ARG PIP_ARGS=""
COPY . /src
RUN python3 -m venv /opt/cluster-init \
 && /opt/cluster-init/bin/pip install --no-cache-dir --disable-pip-version-check ${PIP_ARGS} /src \
 && /opt/cluster-init/bin/pip uninstall --yes --quiet pip setuptools

FROM ${BASE}
COPY --from=build /opt/cluster-init /opt/cluster-init
# No shell profile, no home of its own: HOME=/tmp (crash traces go under ~/.cache; /tmp may be the only
# writable place when the root filesystem is read-only).
ENV PATH=/opt/cluster-init/bin:/usr/local/bin:/usr/bin:/bin \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["cluster-init"]
CMD ["--help"]
