# syntax=docker/dockerfile:1
# correlator: build the wheel, install it into a slim runtime, run as a non-root user.
#   docker build -t correlator:local .
#   docker run -p 8080:8080 -e CORRELATOR_WEBHOOK_TOKEN=... correlator:local
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY correlator ./correlator
COPY connectors ./connectors
COPY rules ./rules
COPY prompts ./prompts
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LITELLM_LOCAL_MODEL_COST_MAP=True \
    LITELLM_MODE=PRODUCTION
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl \
    && rm -rf /wheels \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/correlator --create-home correlator
USER correlator
WORKDIR /var/lib/correlator
ENV CORRELATOR_DATABASE_URL=sqlite+aiosqlite:////var/lib/correlator/correlator.db
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
ENTRYPOINT ["correlator"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
