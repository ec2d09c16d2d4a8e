# The relay's container image: python -m app on a slim Python, as a non-root user.
#
#   docker build -t voice-relay .
#   docker run -p 8000:8000 -v relay-data:/data voice-relay
#
# Only the runtime dependencies are installed (pip install ., never the [test] extra).  The
# settings are environment variables (docs/settings.md); HOST, PORT and DATA_DIR are set
# here for a container.  DATA_DIR holds the spool of conversations the store has not taken yet:
# mount a persistent volume there so that a restart loses none.  infra/ deploys this image to
# Azure Container Apps.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY app ./app
# Byte-compiled at install: the relay and its health check start without compiling anything.
RUN pip install --no-cache-dir --prefix=/install .

FROM python:${PYTHON_VERSION}-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATA_DIR=/data
# uid and gid 10001: infra/modules/app/relay.bicep mounts the data share as this user's.
RUN groupadd --system --gid 10001 relay \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin relay \
    && mkdir -p /data \
    && chown 10001:10001 /data
COPY --from=build /install /usr/local
USER 10001
WORKDIR /srv
EXPOSE 8000
VOLUME ["/data"]
# SIGTERM drains: new calls are refused, live calls end and are saved within SHUTDOWN_GRACE.
# Give the container engine's stop timeout more than that (docker stop -t 40).
STOPSIGNAL SIGTERM
# No curl in a slim image: the relay's own command asks /healthz on HOST:PORT.
HEALTHCHECK --interval=30s --timeout=10s --start-period=20s --retries=3 \
    CMD ["python", "-m", "app", "healthcheck"]
CMD ["python", "-m", "app"]
