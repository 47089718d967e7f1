# syntax=docker/dockerfile:1
# deskbot: a small, non-root image. Build: docker build -t deskbot .
# Run:   docker run -v deskbot-data:/data -v $PWD/config:/config:ro --env-file .env deskbot

# -- stage 1: build deskbot's wheel and the wheels of its dependencies -------------------------
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY . .
RUN pip wheel --wheel-dir /wheels ".[postgres]"

# -- stage 2: the runtime, without compilers, sources or build caches --------------------------
FROM python:3.11-slim
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
# /healthz and /metrics (daemon.health.port); set daemon.health.host: 0.0.0.0 to scrape it.
EXPOSE 8090
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 CMD ["deskbot", "health"]
# deskbot stops within 10 s of SIGTERM; give it that long (docker stop -t / stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["deskbot"]
CMD ["run"]
