# The two commands a newcomer needs: `make dev` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup dev test lint-terraform clean

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

# checkov over terraform/, offline (--skip-download: no policy download from the vendor's
# platform). It runs from uv's tool cache, pinned, so it never touches .venv's packages; the
# first run fetches it from PyPI. Exits non-zero on any failed check; accepted findings are
# skipped next to their resource with a `#checkov:skip=ID:reason` comment.
# Needs only uv (`make setup` puts one in .venv; one on PATH does too), not the project's venv.
CHECKOV_VERSION ?= 3.3.30
UV ?= $(if $(wildcard $(BIN)/uv),$(BIN)/uv,uv)
lint-terraform:
	$(UV) tool run --from 'checkov==$(CHECKOV_VERSION)' checkov -d terraform --skip-download --compact --quiet

clean:
	rm -rf $(VENV) node_modules .pytest_cache
