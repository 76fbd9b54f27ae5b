# The two commands a newcomer needs: `make dev` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup dev test clean

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

clean:
	rm -rf $(VENV) node_modules .pytest_cache
