"""This repository pushed to an OCI registry, as the chart's `source.kind: OCIRepository` reads it.

Two artifacts under one tag: the repository's files as a Flux artifact (the units' kustomize paths) at
`<repository>`, and the chart as a Helm OCI chart at `<repository>/charts/telco-cloud-init` (a HelmRelease
takes a chart from an OCIRepository only in Helm's own format). The tag is the chart's version with a digest
of the files, so the same tree gives the same tag and a push can be repeated: what `--source local` does with
the working tree, uncommitted changes included.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import NamedTuple

from cluster_init import oci, paths, tools, yamlfile
from cluster_init.errors import RuntimeFailure

CHART_NAME = "telco-cloud-init"


class Published(NamedTuple):
    repository: str  # registry/path of the files artifact, without oci://
    tag: str


def working_tree(root: Path) -> dict[str, bytes]:
    """The files git would commit from `root` (tracked and new, .gitignore honoured), secrets files left out.

    Environment secrets reach the clusters as Secrets, never through a registry; without git, every file but
    .git's is taken.
    """
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=False)
    if listed.returncode == 0:
        names = sorted({n for n in listed.stdout.decode().split("\0") if n})
    else:
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*") if ".git" not in p.parts)
    return {name: (root / name).read_bytes() for name in names
            if (root / name).is_file() and not (root / name).is_symlink() and not _secret(name)}


def _secret(name: str) -> bool:
    base = os.path.basename(name)
    return base == "secrets.yaml" or base.endswith(".secrets.yaml")


def tag_for(files: dict[str, bytes]) -> str:
    """`<chart version>-local-<digest>`: a valid chart version and OCI tag that changes with any file."""
    chart = yamlfile.parse(files[f"charts/{CHART_NAME}/Chart.yaml"].decode()) or {}
    digest = hashlib.sha256(oci.tarball(files)).hexdigest()[:12]
    return f"{chart['version']}-local-{digest}"


def publish(repository: str, insecure: bool = False, root: Path | None = None) -> Published:
    """Push the files and the chart of `root` (this checkout by default) to `repository` (host[:port]/path)."""
    root = root or Path(paths.bundle_root())
    files = working_tree(root)
    tag = tag_for(files)
    oci.push_artifact(f"{repository}:{tag}", files, source=str(root), revision=tag, insecure=insecure)
    _push_chart(root / "charts" / CHART_NAME, f"{repository}/charts", tag, insecure)
    return Published(repository, tag)


def _push_chart(chart: Path, repository: str, version: str, insecure: bool) -> None:
    """`helm package` at `version`, then `helm push` (Helm's media types, which Flux's chartRef expects)."""
    with tempfile.TemporaryDirectory(prefix="cluster-init-chart-") as tmp:
        packed = tools.run("helm", ["package", str(chart), "--version", version, "--destination", tmp])
        if packed.returncode != 0:
            raise RuntimeFailure(f"helm package {paths.display(chart)} failed: {packed.stderr.strip()}")
        archive = os.path.join(tmp, f"{CHART_NAME}-{version}.tgz")
        pushed = tools.run("helm", ["push", archive, f"oci://{repository}", *(["--plain-http"] if insecure else [])])
        if pushed.returncode != 0:
            last = (pushed.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeFailure(f"helm push of the chart to oci://{repository} failed: {last}")
