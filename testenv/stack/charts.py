"""Helm charts the bundle installs, packaged from their module zips and pushed to the stack's registry.

Only cert-manager's, at the version the stack runs (controllers.CERT_MANAGER_STACK_VERSION): its repository
holds a chart template that its release tooling finishes (Chart.yaml's version, the CRDs as a template
behind `installCRDs`); this does the same steps, then `helm package` and `helm push` (OCI, plain HTTP).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from cluster_init import tools
from testenv.build import BuildError
from testenv.crds import module_dir
from testenv.stack.controllers import CERT_MANAGER_STACK_VERSION
from testenv.stack.progress import step
from testenv.stack.registry import NAME, PORT, ensure_registry

CHARTS_REPO = "charts"


def in_cluster_url() -> str:
    """The HelmRepository URL (type oci) of the stack's charts, as pods reach the registry."""
    return f"oci://{NAME}:{PORT}/{CHARTS_REPO}"


def _helm(*args: str) -> str:
    proc = tools.run("helm", list(args))
    if proc.returncode != 0:
        raise BuildError(f"helm {' '.join(args[:2])} failed: {proc.stderr[-2000:]}")
    return proc.stdout


def cert_manager_chart(out: Path) -> Path:
    """cert-manager's chart at the stack's version, as its release tooling packages it."""
    version = CERT_MANAGER_STACK_VERSION
    source = module_dir("github.com/cert-manager/cert-manager", version) / "deploy"
    chart = out / "cert-manager"
    shutil.copytree(source / "charts" / "cert-manager", chart)
    for path in [chart, *chart.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    (chart / "Chart.template.yaml").rename(chart / "Chart.yaml")
    crds = sorted((source / "crds").glob("crd-*.yaml"))
    body = "\n---\n".join(p.read_text().strip() for p in crds)
    (chart / "templates" / "crds.yaml").write_text(f"{{{{- if .Values.installCRDs }}}}\n{body}\n{{{{- end }}}}\n")
    _helm("package", "--version", version, "--app-version", version, "--destination", str(out), str(chart))
    return out / f"cert-manager-{version}.tgz"


def publish() -> str:
    """The charts in the local registry; returns the in-cluster HelmRepository URL."""
    address = ensure_registry().replace("127.0.0.1", "localhost")
    with tempfile.TemporaryDirectory() as tmp, step(f"chart cert-manager {CERT_MANAGER_STACK_VERSION}"):
        package = cert_manager_chart(Path(tmp))
        _helm("push", str(package), f"oci://{address}/{CHARTS_REPO}", "--plain-http")
    return in_cluster_url()
