# valgrad: gradient-as-a-service.
#   docker build -t valgrad . && docker run -p 8000:8000 valgrad
# WEB_CONCURRENCY (else VALGRAD_WORKERS, else 2) sets the worker processes per container;
# every other setting is a VALGRAD_* environment variable.
# A mirror of PyPI can be used at build time: --build-arg PIP_INDEX_URL=https://mirror/simple

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: wheels for the project and its `server` extra, then one venv ----
FROM ${PYTHON_IMAGE} AS builder
LABEL org.valgrad.stage=builder
ARG PIP_INDEX_URL
ARG PIP_EXTRA_INDEX_URL
ARG PIP_TRUSTED_HOST
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src

# Dependencies first, in their own layer, so editing the code does not re-download them.
COPY pyproject.toml constraints.txt README.md ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['server'] + p['optional-dependencies']['compiled']))" > requirements.txt \
 && pip wheel --constraint constraints.txt --wheel-dir /wheels --requirement requirements.txt

COPY engine ./engine
COPY app ./app
COPY valgrad ./valgrad
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-index --find-links /wheels "valgrad[server,compiled]" \
 && /opt/venv/bin/pip uninstall --yes pip setuptools

# ---- runtime: the venv on a slim Python, nothing else ----
FROM ${PYTHON_IMAGE}
LABEL org.valgrad.stage=runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 valgrad \
 && useradd --system --uid 10001 --gid valgrad --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin valgrad
COPY --from=builder /opt/venv /opt/venv

# Numeric so that Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
WORKDIR /tmp
EXPOSE 8000

# The slim image has no curl: ask Python.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"]

# exec: valgrad becomes PID 1 and receives SIGTERM from `docker stop` directly.
CMD ["sh", "-c", "exec valgrad serve --host 0.0.0.0 --port 8000 --workers \"${WEB_CONCURRENCY:-${VALGRAD_WORKERS:-2}}\""]
