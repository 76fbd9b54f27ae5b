# The dashboard's image, for Cloud Run (terraform/ deploys it as var.dashboard_image).
# The three functions do not use it: Cloud Functions builds them from functions/.
#
#   gcloud builds submit --tag REGION-docker.pkg.dev/PROJECT/bale/dashboard:TAG .
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY functions/bale functions/bale
COPY web/dashboard web/dashboard
RUN pip install ".[dashboard]" gunicorn

USER nobody
# One process with threads: the app is I/O-bound (Firestore, Firebase Auth) and Cloud
# Run scales out by instances. --timeout 0 leaves request deadlines to Cloud Run.
CMD exec gunicorn --bind ":${PORT:-8080}" --workers 1 --threads 8 --timeout 0 "dashboard:create_app()"
