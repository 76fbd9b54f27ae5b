# The dashboard's image, for Cloud Run (terraform/ deploys it as var.dashboard_image).
# The three functions do not use it: Cloud Functions builds them from functions/.
#
# Built from the repository root, its context (.dockerignore admits what it copies):
#   docker build -f Dockerfile -t REGION-docker.pkg.dev/PROJECT/bale/dashboard:TAG .
# cloudbuild.yaml runs that command on Cloud Build (see docs/deploy.md).
#
# The base image by the digest of its multi-architecture index, so a rebuild gets the same
# Python and Debian until someone moves the pin. The digest of python:3.11.14-slim-bookworm as
# public projects record it (e.g. kuotunyu/CareRisk-48H's base-image record, index digest beside
# its linux/amd64 manifest sha256:83f339c1…), not yet pulled by this project: a wrong digest
# fails the first build, it never runs another image. Its Python minor version is Terraform's
# runtime's (python311), checked by tests/deploy/test_images.py.
FROM python:3.11.14-slim-bookworm@sha256:65a93d69fa75478d554f4ad27c85c1e69fa184956261b4301ebaf6dbb0a3543d

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Dependencies from the hashed lock (make requirements), so nothing is resolved at build time.
# The lock holds the build backend too: the project then installs without build isolation,
# which would fetch an unpinned setuptools.
COPY web/requirements.txt ./
RUN pip install --require-hashes -r requirements.txt
COPY pyproject.toml README.md ./
COPY functions/bale functions/bale
COPY web/dashboard web/dashboard
RUN pip install --no-deps --no-build-isolation . && rm -rf build ./*.egg-info

USER nobody
# One process with threads: the app is I/O-bound (Firestore, Firebase Auth) and Cloud
# Run scales out by instances. --timeout 0 leaves request deadlines to Cloud Run.
# --no-control-socket: no management socket in production (nobody's HOME is not writable).
CMD exec gunicorn --bind ":${PORT:-8080}" --workers 1 --threads 8 --timeout 0 --no-control-socket \
    "dashboard:create_app()"
