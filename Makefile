# pgmigrate.django: the two commands are `make demo` and `make test` (fresh Debian 12, as root).
# Everything else here is a step of those two; each step is cheap when already done.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# Modules and tests find the collection through this path (a symlink to the repository).
COLLECTIONS := $(CURDIR)/build/collections
COLLECTION_LINK := $(COLLECTIONS)/ansible_collections/pgmigrate/django
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_HOME := $(CURDIR)/.cache/ansible
PG_VERSION ?= 15
MOLECULE_SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard molecule/*/molecule.yml))))
PYTEST_ARGS ?=

.PHONY: help demo test deps system-deps venv collection postgres docker lint sanity pytest pytest-migrate pytest-rest molecule build bench clean test-apps

help:
	@echo "make demo   - migrate the built-in demo app from SQLite to the local PostgreSQL"
	@echo "make test   - lint, ansible-test sanity, pytest (unit + integration), the real sites (test-apps), every Molecule scenario"
	@echo "make bench  - benchmarks (not part of make test)"
	@echo "make test-apps - real third-party sites from PyPI through migrate.yml and rollback.yml (examples/sites; part of make test)"

## ---- the two commands -------------------------------------------------------------------

# The demo app on SQLite with generated data (examples/demo_prepare.yml), then the migration.
demo: deps postgres
	$(BIN)/ansible-playbook -i inventories/local/hosts.yml examples/demo_prepare.yml
	$(BIN)/ansible-playbook -i inventories/local/hosts.yml playbooks/migrate.yml
	@echo "Migration report: $(CURDIR)/.cache/demo/reports/migration-localhost.json"
	@echo "The demo app now answers on http://127.0.0.1:8765/healthz"

# Four lanes side by side (scripts/test-lanes.sh): the checks then the real third-party sites
# (test-apps); pytest in two halves (the whole-playbook migration tests, and the rest: they mostly
# wait on apps, PostgreSQL and ansible-playbook, not on the CPU); Molecule.
TEST_LANES ?= checks="lint sanity build test-apps" pytest="pytest-rest" pytest-migrate="pytest-migrate" molecule="molecule"
test: deps postgres docker
	@start=$$(date +%s); \
	scripts/test-lanes.sh $(TEST_LANES); \
	echo "make test: all steps passed in $$(( $$(date +%s) - start )) s (lanes: $(TEST_LANES); Molecule: $(MOLECULE_SCENARIOS))"

## ---- setup -----------------------------------------------------------------------------

deps: system-deps venv collection

system-deps:
	@scripts/install-system-deps.sh

# Reinstall only when a requirements file changed.
venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

collection: $(COLLECTION_LINK)
$(COLLECTION_LINK):
	@mkdir -p $(dir $@)
	@ln -sfn $(CURDIR) $@

postgres:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $(PG_VERSION) main start
	@for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && exit 0; sleep 1; done; \
	  echo "PostgreSQL $(PG_VERSION) did not start: see /var/log/postgresql/" >&2; exit 1

# Both Molecule images: Debian 12 (PostgreSQL 15) and Debian 13 (PostgreSQL 17); about a minute
# each the first time, a second when they exist.
docker:
	@scripts/ensure-dockerd.sh
	@scripts/build-docker-image.sh --suite bookworm --suite trixie

## ---- the steps of make test ------------------------------------------------------------

lint: venv collection
	$(BIN)/yamllint --strict .
	$(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint

sanity: venv
	scripts/sanity.sh

# The built tarball must hold no venv, cache or test output (tests/unit/test_build.py checks it too).
build: venv
	@mkdir -p build/dist
	$(BIN)/ansible-galaxy collection build --force --output-path build/dist >/dev/null
	@echo "built: $$(ls build/dist/pgmigrate-django-*.tar.gz)"

pytest: venv collection postgres
	CI=$${CI:-false} $(BIN)/python -m pytest $(PYTEST_ARGS)

# The two halves of pytest for parallel lanes, each with its own temporary directory.
PYTEST_MIGRATE_FILES := $(addprefix tests/integration/,test_migrate_online.py test_migrate_faults.py test_migrate_playbook.py)
pytest-migrate: venv collection postgres
	CI=$${CI:-false} $(BIN)/python -m pytest --basetemp=$(CURDIR)/.cache/pytest-migrate $(PYTEST_ARGS) $(PYTEST_MIGRATE_FILES)
pytest-rest: venv collection postgres
	CI=$${CI:-false} $(BIN)/python -m pytest --basetemp=$(CURDIR)/.cache/pytest-rest $(addprefix --ignore=,$(PYTEST_MIGRATE_FILES)) $(PYTEST_ARGS)

molecule: venv docker
	@for scenario in $(MOLECULE_SCENARIOS); do \
	  echo "=== molecule test -s $$scenario"; \
	  $(BIN)/molecule test -s $$scenario || exit 1; \
	done

# BENCH_ARGS e.g. '--rows 1e5,1e6,1e7 --strategy online --engine copy' (benchmarks/README.md).
BENCH_ARGS ?=
bench: deps postgres
	$(BIN)/pip install --quiet --disable-pip-version-check -r benchmarks/requirements.txt
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# Real third-party Django sites (examples/sites/README.md): each built on SQLite from PyPI with its
# own migrations and seed data, then migrate.yml, a second migrate.yml and rollback.yml with an
# inventory of variables only (tests/apps/test_real_sites.py, the sites side by side: tests/apps/run.sh).
# Venvs, pip downloads and each freshly seeded site (seed.tar) are kept in .cache/ between runs.
# TEST_APPS_ENGINE: copy (the collection's default) or pgloader.
TEST_APPS ?= wagtail oscar
TEST_APPS_PORT ?= 18600
TEST_APPS_ENGINE ?= copy
test-apps: deps postgres
	TEST_APPS="$(TEST_APPS)" TEST_APPS_PORT=$(TEST_APPS_PORT) PGMIGRATE_ENGINE=$(TEST_APPS_ENGINE) tests/apps/run.sh

clean:
	rm -rf build .cache .pytest_cache
