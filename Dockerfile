# One image for every criptopipe process (Dagster webserver and daemon, dashboard, CLI).
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    CRIPTOPIPE_HOME=/var/lib/criptopipe \
    DAGSTER_HOME=/var/lib/criptopipe/dagster

RUN pip install --no-cache-dir uv
WORKDIR /app

# Dependencies first (cached layer), then the project.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY ingestion ingestion
COPY orchestration orchestration
COPY dashboard dashboard
COPY dbt_project dbt_project
COPY deploy deploy
# The same instance configuration as local runs (run queue, per-provider pools, PostgreSQL
# storage); docker-compose mounts deploy/dagster.yaml over it, so edits need no rebuild.
RUN uv sync --frozen --no-dev && mkdir -p "$DAGSTER_HOME" \
    && cp deploy/dagster.yaml "$DAGSTER_HOME/dagster.yaml"

ENV PATH="/app/.venv/bin:$PATH"
# The dbt manifest the Dagster definitions load, prepared once at build time: loading the
# definitions never runs dbt (parsing needs no database).
RUN criptopipe dbt parse
CMD ["criptopipe", "--help"]
