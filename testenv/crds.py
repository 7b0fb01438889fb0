"""The CRDs of every upstream the chart deploys, taken from their pinned Go modules.

Each module is fetched with `go mod download` (the module proxy is the only registry with the
upstream trees) and its kubebuilder `crd/bases` folders are read as they are: never hand-written.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import NamedTuple

from cluster_init import pins


class CrdSource(NamedTuple):
    module: str
    version: str
    folders: tuple[str, ...]


@cache
def sources() -> tuple[CrdSource, ...]:
    """Where each upstream keeps its CRDs, at the versions of the pin table."""
    table = pins.pins()
    up = {name: pin["version"] for name, pin in table["upstreams"].items()}
    flux = table["twin"]["flux-controllers"]
    capi = up["cluster-api"]
    return (
        CrdSource("github.com/fluxcd/source-controller", flux["source-controller"], ("config/crd/bases",)),
        CrdSource("github.com/fluxcd/kustomize-controller", flux["kustomize-controller"], ("config/crd/bases",)),
        CrdSource("github.com/fluxcd/helm-controller", flux["helm-controller"], ("config/crd/bases",)),
        CrdSource("github.com/cert-manager/cert-manager", up["cert-manager"], ("deploy/crds",)),
        CrdSource("sigs.k8s.io/cluster-api", capi, (
            "core/config/crd/bases", "bootstrap/kubeadm/config/crd/bases", "controlplane/kubeadm/config/crd/bases",
            "cmd/clusterctl/config/crd/bases")),
        CrdSource("sigs.k8s.io/cluster-api/test", capi, ("infrastructure/docker/config/crd/bases",)),
        CrdSource("github.com/rancher/cluster-api-provider-rke2", up["cluster-api-provider-rke2"],
                  ("bootstrap/config/crd/bases", "controlplane/config/crd/bases")),
        CrdSource("sigs.k8s.io/cluster-api-provider-openstack", up["cluster-api-provider-openstack"],
                  ("config/crd/bases",)),
        CrdSource("github.com/k-orc/openstack-resource-controller/v2", up["openstack-resource-controller"],
                  ("config/crd/bases",)),
    )


@cache
def _no_sumdb() -> str:
    """GONOSUMDB: the pinned modules the checksum database has no record of (`gonosumdb: true`), and only those."""
    table = pins.pins()
    return ",".join(sorted(pin["module"] for pin in table["upstreams"].values() if pin.get("gonosumdb")))


def module_dir(module: str, version: str) -> Path:
    """The module's read-only tree in the Go module cache, downloading it on first use."""
    env = {**os.environ, "GONOSUMDB": _no_sumdb(), "GOFLAGS": "-mod=mod"}
    result = subprocess.run(["go", "mod", "download", "-json", f"{module}@{version}"],
                            capture_output=True, text=True, check=False, env=env)
    info = json.loads(result.stdout or "{}")
    if result.returncode != 0 or "Dir" not in info:
        raise RuntimeError(f"cannot fetch {module}@{version} from the Go module proxy: "
                           f"{info.get('Error') or result.stderr.strip()}")
    return Path(info["Dir"])


@cache
def crd_files() -> tuple[Path, ...]:
    """Every CRD file of every pinned upstream, in a stable order."""
    files: list[Path] = []
    for source in sources():
        root = module_dir(source.module, source.version)
        for folder in source.folders:
            found = sorted((root / folder).glob("*.yaml"))
            if not found:
                raise RuntimeError(f"{source.module}@{source.version} has no CRDs under {folder}")
            files += [f for f in found if f.name != "kustomization.yaml"]
    return tuple(files)
