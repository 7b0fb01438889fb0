"""The upstream sources the chart reads, served from the stack's registry as Flux OCI artifacts.

Users' Flux fetches the Cluster API and provider `config/` trees from git at the pinned tags, and the
Flux install from ghcr.io's flux-manifests artifact. Here both come from the Go module zips of the
same versions (the module proxy is the only registry with them), pushed to the local registry under
`sources/<upstream>:<version>`, with the repository's layout kept so the units' paths stay as they are.
The chart reaches them through its own overrides (`upstreams.<name>.kind/url/insecure`).
"""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

from cluster_init import tools
from cluster_init.upstream import TREES as TREES  # the one table of the modules making up each repository
from testenv.build import BuildError
from testenv.crds import module_dir
from testenv.stack import oci
from testenv.stack.progress import step
from testenv.stack.registry import NAME, PORT, ensure_registry
from testenv.stack.versions import pins, upstream

FLUX_CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller")


def source_repo(name: str) -> str:
    return f"sources/{name}"


def in_cluster_url(name: str) -> str:
    """The OCIRepository URL of an upstream's artifact, as the kind nodes and pods reach the registry."""
    return f"oci://{NAME}:{PORT}/{source_repo(name)}"


def tree_files(name: str) -> dict[str, bytes]:
    version = upstream(name)["version"]
    files: dict[str, bytes] = {}
    for module, prefix, folders in TREES[name]:
        root = module_dir(module, version)
        for rel, data in oci.folder_files(root, folders).items():
            files[f"{prefix}/{rel}" if prefix else rel] = data
    return files


def flux_install() -> bytes:
    """Flux's install as its own manifests/install assembles it, from the controllers' config trees at the
    versions upstreams.flux ships (its bases fetch them from release URLs). notification-controller is left
    out: no version of it that Flux v2.9 ships is served (403). Without it the controllers get an empty
    `--events-addr`, as `flux install --components=…` gives them: pointed at a controller that is not there, each
    event is posted five times before giving up, holding the reconcile ~15 s (measured: every unit's start and
    its Ready each came ~15 s late, on both clusters)."""
    versions = pins()["twin"]["flux-controllers"]
    flux2 = module_dir("github.com/fluxcd/flux2/v2", upstream("flux")["version"])
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "manifests"
        shutil.copytree(flux2 / "manifests", work)
        for path in work.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        for name in FLUX_CONTROLLERS:
            config = module_dir(f"github.com/fluxcd/{name}", versions[name]) / "config"
            base = work / "bases" / name
            (base / f"{name}.crds.yaml").write_text(_kustomize(config / "crd"))
            (base / f"{name}.deployment.yaml").write_text(_kustomize(config / "manager"))
            text = (base / "kustomization.yaml").read_text()
            for kind in ("crds", "deployment"):
                text = text.replace(f"https://github.com/fluxcd/{name}/releases/download/{versions[name]}/"
                                    f"{name}.{kind}.yaml", f"{name}.{kind}.yaml")
            if "https://" in text:
                raise BuildError(f"flux2 {name} base still fetches from a URL:\n{text}")
            (base / "kustomization.yaml").write_text(text)
        install = work / "install" / "kustomization.yaml"
        text = install.read_text()
        for left_out in ("notification-controller", "image-reflector-controller", "image-automation-controller",
                         "source-watcher"):
            text = text.replace(f"  - ../bases/{left_out}\n", "")
        install.write_text(text)
        return _without_events_address(_kustomize(work / "install")).encode()


def _without_events_address(manifests: str) -> str:
    """The install with every controller's `--events-addr=<notification-controller>` emptied."""
    lines = [re.sub(r"^(\s*- --events-addr=).+$", r"\1", line) for line in manifests.splitlines()]
    if any("notification-controller" in line for line in lines if "--events-addr" in line):
        raise BuildError("Flux's install still posts events to notification-controller")
    return "\n".join(lines) + "\n"


def _kustomize(folder: Path) -> str:
    proc = tools.run("kustomize", ["build", str(folder)])
    if proc.returncode != 0:
        raise BuildError(f"kustomize build {folder} failed: {proc.stderr[-2000:]}")
    return proc.stdout


def publish() -> dict[str, str]:
    """Every upstream source in the local registry; returns upstream name -> in-cluster OCI URL."""
    address = ensure_registry()
    urls = {}
    for name in TREES:
        version = upstream(name)["version"]
        with step(f"source {name} {version}"):
            oci.push_artifact(address, source_repo(name), version, tree_files(name), source=name)
        urls[name] = in_cluster_url(name)
    with step(f"source flux {upstream('flux')['version']}"):
        oci.push_artifact(address, source_repo("flux"), upstream("flux")["version"],
                          {"install.yaml": flux_install()}, source="flux")
    urls["flux"] = in_cluster_url("flux")
    return urls

