# Training Explorer: one Streamlit process on port 8501 (docs/deploy.md, "Docker").
#   docker build -t training-explorer .
#   docker run --rm -p 127.0.0.1:8501:8501 training-explorer
# Several replicas behind a proxy need one shared secret:
#   docker run -e STREAMLIT_SERVER_COOKIE_SECRET=... (see docs/deploy.md)
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    OPENBLAS_NUM_THREADS=1

# jemalloc: the server hands memory back after a class (glibc's malloc keeps much of it; see
# docs/deploy.md, "Memory"). Freed pages go back to the system within 5 s.
RUN apt-get update && apt-get install -y --no-install-recommends libjemalloc2 \
    && rm -rf /var/lib/apt/lists/* \
    && ln -s "$(ls /usr/lib/*/libjemalloc.so.2 | head -n 1)" /usr/local/lib/libjemalloc.so.2
ENV LD_PRELOAD=/usr/local/lib/libjemalloc.so.2 \
    MALLOC_CONF=background_thread:true,dirty_decay_ms:5000,muzzy_decay_ms:0

# Unprivileged user; the code stays root-owned, so the app cannot modify itself.
RUN useradd --create-home --uid 10001 app
WORKDIR /app

# Dependencies first, from the hashed lock (every version pinned, every file checked): this
# layer is rebuilt only when requirements.lock changes.
COPY requirements.lock .
RUN pip install --require-hashes --no-deps -r requirements.lock

COPY . .
USER app

EXPOSE 8501
# The slim image has no curl: ask /_stcore/health with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; r = urllib.request.urlopen('http://localhost:8501/_stcore/health', timeout=4); sys.exit(r.read() != b'ok')"]

# The training-explorer launcher: the app with its .streamlit/config.toml. Arguments after the
# image name (or a Kubernetes container's args) replace CMD.
ENTRYPOINT ["python", "-m", "training_explorer"]
CMD ["--server.address=0.0.0.0", "--server.port=8501"]
