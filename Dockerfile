# USCE Coach: the Telegram bot, with its SQLite database on a volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/data/usce-coach.db

# DejaVu Sans draws the /timeline picture with accents and non-Latin names intact.
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 coach \
    && mkdir -p /data && chown coach:coach /data

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY flows ./flows
COPY content ./content
RUN pip install .

USER coach
VOLUME ["/data"]
# Webhook mode listens here (WEBHOOK_LISTEN=0.0.0.0 inside a container).
EXPOSE 8443
ENTRYPOINT ["usce-coach"]
CMD ["run"]
