# The Spyglass server. docker-compose.yml builds it; alone:
#   docker build -t spyglass . && docker run --rm -p 127.0.0.1:4000:4000 spyglass
# serves the demo's mock models (deploy/spyglass.yaml) on an embedded SQLite store.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The locked dependencies first, in their own layer: rebuilt only when requirements.lock changes.
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY tracing ./tracing
COPY prompts ./prompts
COPY evals ./evals
COPY spyglass ./spyglass
RUN pip install -r requirements.lock .

# A default config so the image runs on its own; docker-compose.yml mounts deploy/spyglass.yaml
# over it.
COPY deploy/spyglass.yaml /etc/spyglass/spyglass.yaml

# Run unprivileged. SPYGLASS_HOME holds the SQLite store when no SPYGLASS_DATABASE_URL is given.
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/spyglass --create-home spyglass
USER spyglass
ENV SPYGLASS_HOME=/var/lib/spyglass
WORKDIR /var/lib/spyglass

EXPOSE 4000
CMD ["spyglass", "serve", "--host", "0.0.0.0", "--port", "4000", "--config", "/etc/spyglass/spyglass.yaml"]
