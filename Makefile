# Everything a fresh machine needs, installed by the project's own files: a virtualenv with the
# package, and helm + kustomize built from their pinned Go modules into ~/.cache/cluster-init.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ENV ?= environment-values/kubeadm-capd

.PHONY: setup plan bootstrap openstack test lint bench bench-pivot upgrades readme-versions clean

setup: $(VENV)/.installed
	$(BIN)/python -m cluster_init.tools install
	$(BIN)/python -m compileall -q src  # bytecode even where PYTHONDONTWRITEBYTECODE is set: faster starts

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,openstack]'
	touch $@

# The main job, for now: plan the default environment.
plan: setup
	$(BIN)/cluster-init validate $(ENV)
	$(BIN)/cluster-init plan $(ENV)

# The quick start: a self-managed management cluster on this machine's Docker (ENV, kubeadm-capd by default).
# These machines have no internet, so the offline stack (testenv/stack) builds every image and serves every
# source locally, and the environment is pointed at it through the chart's own mirror overrides. With internet,
# `cluster-init bootstrap environment-values/kubeadm-capd` alone does the same from the upstream registries.
bootstrap: setup
	$(BIN)/python -m testenv stack build
	$(BIN)/python -m testenv stack env --env $(ENV) --out .cluster-init/env
	$(BIN)/cluster-init bootstrap .cluster-init/env

# The test OpenStack (testenv/openstack) from fresh state; prints OS_CLIENT_CONFIG_FILE and OS_CLOUD. The T2 tests
# start it themselves. Stop it with `$(BIN)/python -m testenv openstack down`.
openstack: setup
	$(BIN)/python -m testenv openstack up

# Lint, type-check and run every test tier.
test: setup lint
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks testenv hack
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/plan_vs_helm.py

# Minutes: two control planes, generated fleets of 1, 10 and 100 clusters, clusterctl built on first use.
bench-pivot: setup
	PYTHONPATH=. $(BIN)/python benchmarks/pivot_vs_clusterctl.py

# For maintainers: the newer versions the Go module proxy serves for every pin, and which would break a
# compatibility bound of versions.yaml. Asks the proxy: minutes.
upgrades: $(VENV)/.installed
	$(BIN)/python hack/upgrades.py

# Regenerate the README's version table from versions.yaml (a T0 test fails when they disagree).
readme-versions: $(VENV)/.installed
	$(BIN)/python hack/pins.py readme

clean:
	rm -rf $(VENV)
