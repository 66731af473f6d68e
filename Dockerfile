# Enrollment Doctor bot. Secrets come from the environment at run time, never from the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PORT=3978 \
    DATABASE_URL=sqlite:////data/enrollment-doctor.db

WORKDIR /app
# Dependencies in their own layer: they change less often than the code.
COPY pyproject.toml ./
RUN mkdir -p bot cards sim && touch bot/__init__.py cards/__init__.py sim/__init__.py \
    && pip install . && pip uninstall -y enrollment-doctor

COPY app.py ./
COPY bot ./bot
COPY cards ./cards
COPY sim ./sim
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app doctor \
    && mkdir -p /data && chown 10001 /data

USER 10001
EXPOSE 3978
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '3978') + '/healthz', timeout=2)"]
CMD ["python", "app.py"]
