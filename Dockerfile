# hubbub server image: `docker build -t hubbub .`, then
#   docker run -p 8765:8765 -p 127.0.0.1:8766:8766 -v hubbub-data:/data hubbub
# The data volume holds the store, the lock and the generated secrets (one
# server per volume). Settings: HUBBUB_* variables or a mounted config file
# (HUBBUB_CONFIG=/etc/hubbub/hubbub.toml); see docs/operating.md.
FROM python:3.11-slim-bookworm AS build
WORKDIR /src
COPY pyproject.toml constraints.txt README.md LICENSE ./
COPY actors actors
COPY gateway gateway
COPY hubbub_client hubbub_client
RUN pip install --no-cache-dir --prefix=/install -c constraints.txt .

FROM python:3.11-slim-bookworm
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin hubbub \
    && mkdir -p /data \
    && chown hubbub /data \
    && chmod 700 /data
USER 10001
VOLUME ["/data"]
# WebSocket (8765) and the admin API (8766: bearer token; publish it on loopback only)
EXPOSE 8765 8766
ENV HUBBUB_DATA_DIR=/data \
    HUBBUB_HOST=0.0.0.0 \
    HUBBUB_ADMIN_HOST=0.0.0.0 \
    HUBBUB_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8766/healthz', timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["hubbub"]
CMD ["serve"]
