# Everything a fresh machine needs, installed by the project's own files: a virtualenv with the
# package, and helm + kustomize built from their pinned Go modules into ~/.cache/cluster-init.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
ENV ?= environment-values/kubeadm-capd

.PHONY: setup plan test lint bench bench-pivot clean

setup: $(VENV)/.installed
	$(BIN)/python -m cluster_init.tools install
	$(BIN)/python -m compileall -q src  # bytecode even where PYTHONDONTWRITEBYTECODE is set: faster starts

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The main job, for now: plan the default environment.
plan: setup
	$(BIN)/cluster-init validate $(ENV)
	$(BIN)/cluster-init plan $(ENV)

# Lint, type-check and run every test tier.
test: setup lint
	$(BIN)/pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks testenv
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/plan_vs_helm.py

# Minutes: two control planes, generated fleets of 1, 10 and 100 clusters, clusterctl built on first use.
bench-pivot: setup
	PYTHONPATH=. $(BIN)/python benchmarks/pivot_vs_clusterctl.py

clean:
	rm -rf $(VENV)
