# Pictor's Python services: the origin (`pictor serve --no-nginx`) and the indexer worker
# (`pictor worker`).  Nginx runs from the official image; see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PICTOR_SERVER_DATA_DIR=/data \
    PICTOR_SERVER_HOST=0.0.0.0

# An ordinary user: the services never need root.  /data belongs to it so a fresh named
# volume mounted there starts out writable.
RUN useradd --uid 1000 --create-home pictor \
    && mkdir /data && chown pictor:pictor /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY origin origin
COPY indexer indexer
COPY sql sql
COPY nginx nginx
# Editable: the code finds nginx/ and sql/ next to its packages.  Add ",ai" for CLIP.
ARG EXTRAS=""
RUN pip install -e ".${EXTRAS:+[$EXTRAS]}"

USER pictor
VOLUME ["/data"]
EXPOSE 8000
CMD ["pictor", "serve", "--no-nginx", "--no-worker", "--port", "8000"]
