PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format bench synth plan apply destroy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,infra,web,exporter]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/clusterdash $(ARGS)

test: $(STAMP)
	$(BIN)/pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: $(STAMP)
	@$(BIN)/pytest -m bench -q -s -p no:cacheprovider tests/bench > .bench.log 2>&1; \
	status=$$?; grep -oE '(BENCH|MISS) .*' .bench.log; tail -n 1 .bench.log; exit $$status

# Provisioning (cdktf/README.md). STACK=dev for the one-pod dev stack.
STACK ?= clusterdash

synth: $(STAMP)
	$(BIN)/python cdktf/main.py synth

plan apply destroy: $(STAMP)
	$(BIN)/python cdktf/main.py $@ $(STACK)

clean:
	rm -rf $(VENV) cdktf.out .pytest_cache
