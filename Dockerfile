# syntax=docker/dockerfile:1
# deskbot: a small, non-root image. Build: docker build -t deskbot .
# Run:   docker run -v deskbot-data:/data -v $PWD/config:/config:ro --env-file .env deskbot

# The base image is pinned by digest (a tag can be re-pointed; a digest cannot), and every
# dependency by constraints.txt (tools/freeze_constraints.py): the same sources build the same
# image. To move to a newer base: docker buildx imagetools inspect python:3.11-slim, then
# replace the digest in BOTH stages (tests/test_container.py checks they agree).

# -- stage 1: build deskbot's wheel and the wheels of its dependencies -------------------------
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7 AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
RUN pip wheel --wheel-dir /wheels --constraint constraints.txt ".[postgres]"

# -- stage 2: the runtime, without compilers, sources or build caches --------------------------
FROM python:3.11-slim@sha256:9c900dea9e8fb7e16277c179b555cc72d29a352dbc33cff48ad5a0412fd5bfc7
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DESKBOT_CONFIG=/config/deskbot.yaml
RUN groupadd --system --gid 10001 deskbot \
 && useradd --system --uid 10001 --gid deskbot --home-dir /data --shell /usr/sbin/nologin deskbot \
 && mkdir -p /data /config \
 && chown deskbot:deskbot /data
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links /wheels "deskbot[postgres]"
USER deskbot
WORKDIR /data
# The SQLite database (data_dir: /data in the config) lives on this volume.
VOLUME ["/data"]
# /healthz, /readyz and /metrics (daemon.health.port); daemon.health.host: 0.0.0.0 to scrape.
EXPOSE 8090
# Liveness only (/healthz: the process and its database). Sync freshness is /readyz, for alerts:
# a Zendesk outage must not make the orchestrator restart every replica.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["deskbot", "health"]
# deskbot stops within 10 s of SIGTERM; give it that long (docker stop -t / stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["deskbot"]
CMD ["run"]
