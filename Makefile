# The two commands a newcomer needs: `make dev` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup dev test unit lint lint-terraform terraform-schema terraform-validate deploy requirements check-requirements clean

# Everything the stack and the tests need, installed into ./.venv (and node_modules for
# firebase-tools when package.json is there). Re-runs are cheap: pip skips what is installed.
$(BIN)/bale: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

setup: $(BIN)/bale
	@if [ -f package.json ] && [ ! -x node_modules/.bin/firebase ]; then npm ci --no-audit --no-fund; fi

dev: setup
	$(BIN)/bale dev $(ARGS)

# pytest exits 5 when it collected nothing: that is a failure here, not a pass.
test: setup
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# The fast tier: pure logic, no Java, gcloud, emulators or network; seconds, not minutes.
unit: $(BIN)/bale
	$(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)

# Lint and types: ruff (rules and formatting) over the tree, mypy strict over the deployed core,
# checkov over terraform/, terraform/ against the Google provider's schema (and `terraform
# validate` where a provider is at hand), and the hashed locks (functions/, web/) against their inputs.
LINT_PATHS = functions web tools tests benchmarks
lint: $(BIN)/bale lint-terraform terraform-schema terraform-validate check-requirements
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/ruff format --check $(LINT_PATHS)
	$(BIN)/mypy functions/bale functions/main.py

# functions/requirements.txt is what Cloud Functions (and the upload image) installs:
# pyproject.toml's runtime dependencies, pinned with hashes. web/requirements.txt is what the
# dashboard image installs: the same plus the dashboard extra and the build backend
# (web/requirements.in), held to the functions' pins so both run the same libraries.
# Existing pins are kept unless the inputs moved past them.
UV_COMPILE = $(BIN)/uv pip compile --generate-hashes --python-version 3.11 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command "make requirements" --quiet
# Each lock as FILE=its inputs, comma-separated.
LOCKS = functions/requirements.txt=pyproject.toml \
	web/requirements.txt=pyproject.toml,web/requirements.in,--extra,dashboard,-c,functions/requirements.txt

requirements: $(BIN)/bale
	@for lock in $(LOCKS); do out=$${lock%%=*}; in=$$(echo $${lock#*=} | tr , ' '); \
	$(UV_COMPILE) $$in -o $$out || exit 1; done

check-requirements: $(BIN)/bale
	@for lock in $(LOCKS); do out=$${lock%%=*}; in=$$(echo $${lock#*=} | tr , ' '); \
	tmp=$$(mktemp) && cp $$out $$tmp && $(UV_COMPILE) $$in -o $$tmp && \
	if diff -u $$out $$tmp; then echo "$$out matches its inputs"; \
	else echo "$$out drifted from its inputs ($$in): run make requirements"; rm -f $$tmp; exit 1; fi; \
	rm -f $$tmp; done

# checkov over terraform/, offline (--skip-download: no policy download from the vendor's
# platform). It runs from uv's tool cache, pinned, so it never touches .venv's packages; the
# first run fetches it from PyPI. Exits non-zero on any failed check; accepted findings are
# skipped next to their resource with a `#checkov:skip=ID:reason` comment.
# Needs only uv (`make setup` puts one in .venv; one on PATH does too), not the project's venv.
CHECKOV_VERSION ?= 3.3.30
UV ?= $(if $(wildcard $(BIN)/uv),$(BIN)/uv,uv)
lint-terraform:
	$(UV) tool run --from 'checkov==$(CHECKOV_VERSION)' checkov -d terraform --skip-download --compact --quiet

# Every google_* resource, data source and the provider block of terraform/ against the schema of
# hashicorp/google 6.50.0, offline: unknown arguments or blocks, missing required ones. The schema
# comes from the provider's prebuilt CDK bindings on PyPI (a 49 MB wheel, hash-pinned, downloaded
# once and reduced to a 2.5 MB JSON cache in ~/.cache/bale; about 4 s the first time, 0.5 s after).
terraform-schema: $(BIN)/bale
	$(BIN)/python tests/deploy/terraform_schema.py terraform

# `terraform validate` needs the provider binaries, which only the Terraform registry serves, and
# neither this machine nor CI can reach it: so it runs only where TF_PLUGIN_CACHE_DIR holds the
# google, archive and random providers (in its registry.terraform.io/hashicorp/NAME/... layout),
# and is skipped, not failed, elsewhere. terraform-schema above checks the same arguments offline.
TF_PROVIDERS = google archive random
terraform-validate:
	@dir="$${TF_PLUGIN_CACHE_DIR:-}"; \
	for p in $(TF_PROVIDERS); do \
	  if [ -z "$$dir" ] || [ ! -d "$$dir/registry.terraform.io/hashicorp/$$p" ]; then \
	    echo "terraform validate skipped: no hashicorp/$$p provider in TF_PLUGIN_CACHE_DIR (the Terraform registry is unreachable here)"; exit 0; fi; \
	done; \
	cd terraform && terraform init -backend=false -input=false -plugin-dir="$$dir" >/dev/null && terraform validate

# One command from an empty Google Cloud project to a serving registry (docs/deploy.md):
#   make deploy PROJECT=my-project REGION=us-central1 DOMAIN=pypi.example.com
# 1. terraform apply -target: the APIs, the image repositories and the build service account
#    with its roles (and what they need: the source bucket the build reads its context from);
# 2. Cloud Build builds both images from cloudbuild.yaml as bale-build, tagged by git commit;
# 3. the full terraform apply, with the services on those images.
# terraform.tfvars is read as usual; PROJECT, REGION and DOMAIN override it. Each apply asks for
# confirmation unless AUTO_APPROVE=1. Needs terraform and gcloud, signed in (docs/deploy.md, 1).
PROJECT ?=
REGION  ?= us-central1
DOMAIN  ?=
TERRAFORM ?= terraform
GCLOUD    ?= gcloud
# A tree with uncommitted changes is built all the same, but never under the commit's own tag.
TAG ?= $(shell git rev-parse --short=12 HEAD)$(shell git diff --quiet HEAD -- 2>/dev/null || echo -dirty)
IMAGES = $(REGION)-docker.pkg.dev/$(PROJECT)/bale
TF_VARS = -var=project_id=$(PROJECT) -var=region=$(REGION) -var=domain=$(DOMAIN)
TF_APPLY = $(TERRAFORM) -chdir=terraform apply -input=false $(if $(AUTO_APPROVE),-auto-approve) $(TF_VARS)
BOOTSTRAP = google_project_service.apis google_artifact_registry_repository.bale \
	google_artifact_registry_repository.functions google_service_account.build \
	google_project_iam_member.build_logs google_artifact_registry_repository_iam_member.build_service_images \
	google_storage_bucket_iam_member.build_source
deploy:
	@if [ -z "$(PROJECT)" ] || [ -z "$(DOMAIN)" ]; then \
	  echo "usage: make deploy PROJECT=project-id REGION=us-central1 DOMAIN=pypi.example.com" >&2; exit 2; fi
	$(TERRAFORM) -chdir=terraform init -input=false
	$(TF_APPLY) $(addprefix -target=,$(BOOTSTRAP))
	$(GCLOUD) builds submit --project=$(PROJECT) --region=$(REGION) --config=cloudbuild.yaml \
	  --service-account=projects/$(PROJECT)/serviceAccounts/bale-build@$(PROJECT).iam.gserviceaccount.com \
	  --gcs-source-staging-dir=gs://$(PROJECT)-bale-source/cloudbuild \
	  --substitutions=_REGION=$(REGION),_TAG=$(TAG) .
	$(TF_APPLY) -var=upload_image=$(IMAGES)/upload:$(TAG) -var=dashboard_image=$(IMAGES)/dashboard:$(TAG)
	$(TERRAFORM) -chdir=terraform output

clean:
	rm -rf $(VENV) node_modules .pytest_cache
