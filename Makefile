# The two quick-start commands are `make demo` and `make test`; both provision
# what they need (virtual environment, Kafka jars, PostgreSQL) and are idempotent.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit integration bench down status clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/refnet stack up
	$(BIN)/refnet demo

test: $(STAMP) lint typecheck
	$(BIN)/pytest -q -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# mypy sees the three folders under the `refnet` namespace through links; tests and
# benchmarks are checked as strictly as the package.
typecheck: $(STAMP)
	mkdir -p .typecheck/refnet
	for d in events projections services; do ln -sfn ../../$$d .typecheck/refnet/$$d; done
	$(BIN)/mypy -p refnet.events -p refnet.projections -p refnet.services
	$(BIN)/mypy tests bench

unit: $(STAMP)
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

bench: $(STAMP)
	$(BIN)/python -m bench.throughput

status: $(STAMP)
	$(BIN)/refnet stack status

down: $(STAMP)
	$(BIN)/refnet stack down

clean:
	rm -rf .typecheck .mypy_cache .pytest_cache .ruff_cache
