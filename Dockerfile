# Enrollment Doctor bot. Secrets come from the environment at run time, never from the image.
# The base is pinned to its Debian release (bookworm, Debian 12) and Python minor version. No digest: none
# could be verified from where this was written (Docker Hub is out of reach there); pin one with
# `docker buildx imagetools inspect python:3.11-slim-bookworm` where it can be checked.
# BASE_IMAGE exists for tools/image_check.sh, which builds this file where no registry is reachable, FROM a
# stand-in made with debootstrap (Debian bookworm with Python 3.11 on PATH); deployments keep the default.
ARG BASE_IMAGE=python:3.11-slim-bookworm
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=3978 DATABASE_URL=sqlite:////data/enrollment-doctor.db

WORKDIR /app
# Photos of the screen are read by Debian's Tesseract with its Latin-script, Japanese, Chinese, Korean and Russian
# models (bot/photo.py; chosen by measurement, see the README). Versions are those of the pinned Debian release.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-script-latn tesseract-ocr-jpn \
       tesseract-ocr-chi-sim tesseract-ocr-chi-tra tesseract-ocr-kor tesseract-ocr-rus \
    && rm -rf /var/lib/apt/lists/*
# Dependencies in their own layer, exactly as locked (every file checked against its hash): they change less
# often than the code. The project itself is not pip-installed: the code runs from /app, one copy, no build/.
COPY requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements.lock \
    && rm requirements.lock

COPY app.py ./
COPY bot ./bot
COPY cards ./cards
COPY sim ./sim
RUN useradd --system --uid 10001 --home-dir /app doctor \
    && mkdir -p /data && chown 10001 /data

# The SQLite database lives here: mount a volume (docker run -v enrollment-doctor-data:/data ...) or it is
# lost with the container. A bind mount must be writable by uid 10001.
VOLUME ["/data"]
USER 10001
EXPOSE 3978
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3978') + '/healthz', timeout=2)"]
CMD ["python", "app.py"]
