PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/pip install --quiet
# `make run` installs what the dashboard runs (and `serve`); the rest installs everything
# the tests, the benchmarks and provisioning need.
RUN_EXTRAS := web
DEV_EXTRAS := test,infra,web,exporter,mcp
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed

.PHONY: run test lint format keys bench synth plan apply destroy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# --no-compile: Python compiles what the dashboard imports on first use, a third less
# install time than compiling every module of every dependency up front.
$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) --no-compile -e '.[$(RUN_EXTRAS)]'
	touch $(RUN_STAMP)

$(STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[$(DEV_EXTRAS)]'
	touch $(STAMP) $(RUN_STAMP)

run: $(RUN_STAMP)
	$(BIN)/clusterdash $(ARGS)

# The integration tests' Debian packages are installed when root (or sudo without a
# password) can; otherwise the last line names the skipped groups and how to enable them.
test: $(STAMP)
	@.ci/system-packages install-if-able
	@$(BIN)/pytest $(PYTEST_ARGS); status=$$?; .ci/system-packages report; exit $$status

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# README's key table and docs/keys.md, from the bindings (a test fails while they differ).
keys: $(STAMP)
	$(BIN)/python -m tests.ui.make_docs --keys

# Every test marked bench, wherever it lives (the UI's long random-key soak included).
bench: $(STAMP)
	@$(BIN)/pytest -m bench -q -s -p no:cacheprovider tests > .bench.log 2>&1; \
	status=$$?; grep -oE '(BENCH|MISS) .*' .bench.log; tail -n 1 .bench.log; exit $$status

# Provisioning (cdktf/README.md). STACK=dev for the one-pod dev stack.
STACK ?= clusterdash

synth: $(STAMP)
	$(BIN)/python cdktf/main.py synth

plan apply destroy: $(STAMP)
	$(BIN)/python cdktf/main.py $@ $(STACK)

clean:
	rm -rf $(VENV) cdktf.out .pytest_cache
