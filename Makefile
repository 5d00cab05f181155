# The two quick-start commands are `make demo` and `make test`; both provision
# what they need (virtual environment, Kafka jars, PostgreSQL) and are idempotent.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: lock demo test lint typecheck unit integration browser browser-deps kube-deps asyncapi-deps asyncapi-html chromium fonts promtool kcat bench down status clean

# Every Python package comes from requirements.lock, pinned and hashed, so a fresh
# machine installs exactly what CI tested; RefNet itself is then installed over it,
# editable, with nothing more. `make lock` remakes the lock from pyproject.toml.
LOCK := requirements.lock

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(STAMP)

lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --upgrade \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header -o $(LOCK)
	$(BIN)/uv pip compile pyproject.toml --generate-hashes -c $(LOCK) \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header \
		-o deploy/container/requirements.lock
	cd $(BROWSER_DIR) && npm install --package-lock-only --no-audit --no-fund
	cd $(KUBE_DIR) && npm install --package-lock-only --no-audit --no-fund
	cd $(ASYNCAPI_DIR) && npm install --package-lock-only --no-audit --no-fund
	cd $(ASYNCAPI_HTML_DIR) && npm install --package-lock-only --no-audit --no-fund --ignore-scripts

# $(call debian_package,WHAT,PATH,PACKAGE[,APT FLAGS]): install Debian's PACKAGE unless PATH exists.
define debian_package
	@if [ -e $(2) ]; then \
		echo "$(1): $(2) is installed"; \
	else \
		echo "$(1): $(2) is missing; installing Debian's $(3)"; \
		DEBIAN_FRONTEND=noninteractive $(APT_GET) update -q && \
		DEBIAN_FRONTEND=noninteractive $(APT_GET) install -y -q $(4) $(3); \
	fi
endef

# The browser tests drive Debian's Chromium (installed here when missing; a test tool's
# own browser download is never used) and inject npm packages pinned in their lock file.
CHROMIUM ?= /usr/bin/chromium
APT_GET ?= apt-get
BROWSER_DIR := tests/browser
BROWSER_STAMP := $(BROWSER_DIR)/node_modules/.installed

browser-deps: chromium fonts $(BROWSER_STAMP)

chromium:
	$(call debian_package,chromium,$(CHROMIUM),chromium)

# The ESF+ report's PDF embeds a Unicode TrueType font (umlauts, dashes).
FONT ?= /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf
fonts:
	$(call debian_package,fonts,$(FONT),fonts-dejavu-core)

# CloudEvents headers are read back with kcat in the tests, from Debian's kcat package.
KCAT ?= /usr/bin/kcat
kcat:
	$(call debian_package,kcat,$(KCAT),kcat)

# The alert rules are checked and unit-tested by promtool, from Debian's prometheus package
# (the server it also brings is never started here).
PROMTOOL ?= /usr/bin/promtool
promtool:
	$(call debian_package,promtool,$(PROMTOOL),prometheus,--no-install-recommends)

# `npm ci` installs exactly the lock file and empties node_modules first, so the
# stamp is written after it.
$(BROWSER_STAMP): $(BROWSER_DIR)/package.json $(BROWSER_DIR)/package-lock.json
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund
	touch $@

# deploy/kubernetes is validated offline by tests/kubernetes/validate.mjs against the
# published models of Kubernetes, Strimzi and CloudNativePG, pinned in its lock file.
KUBE_DIR := tests/kubernetes
KUBE_STAMP := $(KUBE_DIR)/node_modules/.installed

kube-deps: $(KUBE_STAMP)

$(KUBE_STAMP): $(KUBE_DIR)/package.json $(KUBE_DIR)/package-lock.json
	cd $(KUBE_DIR) && npm ci --no-audit --no-fund
	touch $@

# events/asyncapi.json and the API's /asyncapi.json are validated offline by
# tests/asyncapi/validate.mjs with the official AsyncAPI parser, pinned in its lock file.
# --ignore-scripts: a dependency's postinstall only reports installs home.
ASYNCAPI_DIR := tests/asyncapi
ASYNCAPI_STAMP := $(ASYNCAPI_DIR)/node_modules/.installed

asyncapi-deps: $(ASYNCAPI_STAMP)

$(ASYNCAPI_STAMP): $(ASYNCAPI_DIR)/package.json $(ASYNCAPI_DIR)/package-lock.json
	cd $(ASYNCAPI_DIR) && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

# A readable page of the log's description, made offline by AsyncAPI's own generator and
# HTML template (pinned in deploy/asyncapi-html; --ignore-scripts: the generator's
# optional browser download is never run). Not part of `make test`: it is 400 MB of npm.
ASYNCAPI_HTML_DIR := deploy/asyncapi-html
ASYNCAPI_HTML_STAMP := $(ASYNCAPI_HTML_DIR)/node_modules/.installed

$(ASYNCAPI_HTML_STAMP): $(ASYNCAPI_HTML_DIR)/package.json $(ASYNCAPI_HTML_DIR)/package-lock.json
	cd $(ASYNCAPI_HTML_DIR) && npm ci --no-audit --no-fund --ignore-scripts
	touch $@

asyncapi-html: $(ASYNCAPI_HTML_STAMP)
	node $(ASYNCAPI_HTML_DIR)/render.cjs events/asyncapi.json build/asyncapi

demo: $(STAMP) fonts
	$(BIN)/refnet stack up
	$(BIN)/refnet demo

test: $(STAMP) browser-deps kube-deps asyncapi-deps promtool kcat lint typecheck
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

unit: $(STAMP) promtool kube-deps asyncapi-deps
	$(BIN)/pytest -q tests/unit

integration: $(STAMP)
	$(BIN)/pytest -q tests/integration

browser: $(STAMP) browser-deps
	$(BIN)/pytest -q tests/browser

bench: $(STAMP)
	$(BIN)/python -m bench.throughput

status: $(STAMP)
	$(BIN)/refnet stack status

down: $(STAMP)
	$(BIN)/refnet stack down

clean:
	rm -rf .typecheck .mypy_cache .pytest_cache .ruff_cache
