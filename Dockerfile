# The aggregator image: the package with the PostgreSQL driver in a virtual
# environment, the configs and the seed live blogs, run as a non-root user.
#
#   docker build -t aggregator:local .
#   docker run --rm -p 127.0.0.1:8080:8080 aggregator:local
#       → the single-process service on SQLite (the embedded default)
#
# The same image runs every part of the compose deployment (see
# docker-compose.yml): `db upgrade`, `run --collector-only --shard I/N` and
# `serve`. No health check here: collectors have no HTTP port, so each
# compose service declares the check that fits what it runs.

ARG PYTHON_IMAGE=python:3.11-slim

# Build: a wheel of the package and of each dependency, then a virtual
# environment installed from those wheels alone.
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
# README.md is the package's long description (pyproject.toml `readme`).
COPY pyproject.toml README.md ./
COPY aggregator/ aggregator/
RUN pip wheel --wheel-dir /wheels ".[postgres]" \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --find-links /wheels "aggregator[postgres]"

# Run: the virtual environment, the configs and the seeds; nothing else.
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 aggregator \
    && useradd --system --no-log-init --uid 10001 --gid aggregator \
       --home-dir /app --no-create-home --shell /usr/sbin/nologin aggregator
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AGGREGATOR_CONFIG=/app/config/aggregator.toml
WORKDIR /app
# Owned by root and only readable by the service: it cannot change its own
# configuration or the fixtures.
COPY config/ config/
COPY seeds/ seeds/
# The one writable place: the SQLite log of the default config and the feed
# files (config/*.toml put them in ../var). A named volume mounted here starts
# with this ownership.
RUN mkdir -p var/feeds && chown -R 10001:10001 var
USER 10001:10001
EXPOSE 8080
# SIGTERM stops the service cleanly (polls in flight finish or are abandoned
# before they append; exit 0).
STOPSIGNAL SIGTERM
ENTRYPOINT ["aggregator"]
CMD ["run", "--host", "0.0.0.0", "--port", "8080", "--log-format", "json"]
