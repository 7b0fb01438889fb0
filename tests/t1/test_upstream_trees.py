"""T1: every upstream unit points at a kustomization that exists and builds in the pinned upstream tree.

The child Flux Kustomizations name a path inside an upstream repository at the pinned tag; when an
upstream moves its manifests (Cluster API v1.12 moved the core provider under core/), only a real
reconcile would notice. The pinned trees come from the Go module proxy, read as `cluster-init images` reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_init import pins, tools, upstream
from tests.conftest import ROOT

pytestmark = pytest.mark.t1

PINS: dict[str, Any] = pins.pins()["upstreams"]
CHILDREN = sorted(ROOT.glob("kustomize-components/*/components.yaml"))


def upstream_tree(source: str, path: str) -> Path:
    """The folder `path` of upstream `source`'s repository at its pin, from the module zips (the product's own
    reader: a repository's nested Go modules are separate zips, e.g. Cluster API's `test/`)."""
    pin = PINS[source]
    return upstream.repository_path(source, pin["module"], pin["version"], path)


@pytest.mark.parametrize("components", CHILDREN, ids=lambda p: p.parent.name)
def test_upstream_unit_path_builds_at_the_pin(components: Path, tmp_path: Path) -> None:
    child = yaml.safe_load(components.read_text())
    source, path = child["spec"]["sourceRef"]["name"], child["spec"]["path"]
    tree = upstream_tree(source, path)
    assert (tree / "kustomization.yaml").is_file(), f"{source}@{PINS[source]['version']} has no {path}"
    built = tools.run("kustomize", ["build", str(tree)])
    assert built.returncode == 0, built.stderr
    kinds = {d["kind"] for d in yaml.safe_load_all(built.stdout) if d}
    assert {"Deployment", "CustomResourceDefinition"} <= kinds, f"{path}: {sorted(kinds)}"
