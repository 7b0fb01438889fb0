"""The tree of a pinned upstream repository, from its Go module zips on the Go module proxy.

The units apply manifests from upstream repositories at pinned tags; to know what those manifests hold
(their images, above all) without git or the internet, we read the same files from the module zips the
proxy serves for the same versions. Zips are extracted once into the user cache and reused.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from cluster_init.errors import RuntimeFailure
from cluster_init.paths import cache_dir

DEFAULT_PROXY = "https://proxy.golang.org"
TIMEOUT = 120.0

# Per upstream repository: (Go module, the repository folder it holds, the folders the units use). A repository
# whose tree is split into nested modules has one entry per module; the others are their pinned `module` alone.
TREES: dict[str, list[tuple[str, str, list[str]]]] = {
    "cluster-api": [("sigs.k8s.io/cluster-api", "", ["core/config", "bootstrap/kubeadm/config",
                                                     "controlplane/kubeadm/config"]),
                    ("sigs.k8s.io/cluster-api/test", "test", ["infrastructure/docker/config"])],
    "cluster-api-provider-rke2": [("github.com/rancher/cluster-api-provider-rke2", "",
                                   ["bootstrap/config", "controlplane/config"])],
    "cluster-api-provider-openstack": [("sigs.k8s.io/cluster-api-provider-openstack", "", ["config"])],
    "openstack-resource-controller": [("github.com/k-orc/openstack-resource-controller/v2", "", ["config"])],
}


def proxies() -> list[str]:
    """GOPROXY's proxies in order (`direct` and `off` skipped: we only speak the proxy protocol)."""
    text = os.environ.get("GOPROXY") or DEFAULT_PROXY
    found = [p.strip().rstrip("/") for p in text.replace("|", ",").split(",")]
    return [p for p in found if p and p not in ("direct", "off")] or [DEFAULT_PROXY]


def escape(module: str) -> str:
    """The module proxy's case escaping: an uppercase letter becomes `!` and the lowercase letter."""
    return "".join(f"!{c.lower()}" if c.isupper() else c for c in module)


def module_dir(module: str, version: str) -> Path:
    """The extracted tree of `module@version`, fetched on first use."""
    target = Path(cache_dir()) / "upstreams" / f"{escape(module)}@{version}"
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        archive = Path(tmp) / "module.zip"
        _download(module, version, archive)
        tree = Path(tmp) / "tree"
        _extract(archive, f"{module}@{version}/", tree)
        try:
            tree.rename(target)
        except OSError:  # another run got there first
            if not target.is_dir():
                raise
    return target


def _download(module: str, version: str, archive: Path) -> None:
    """The module zip from the first proxy that serves it."""
    failures = []
    for proxy in proxies():
        url = f"{proxy}/{escape(module)}/@v/{escape(version)}.zip"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as response, archive.open("wb") as out:
                shutil.copyfileobj(response, out)
            return
        except (urllib.error.URLError, OSError, ValueError) as e:
            failures.append(f"{url}: {getattr(e, 'reason', None) or e}")
    raise RuntimeFailure(f"cannot fetch {module}@{version} from the Go module proxy ({'; '.join(failures)}); "
                         "set GOPROXY to a reachable module proxy")


def _extract(archive: Path, prefix: str, tree: Path) -> None:
    """Files under `prefix` in the zip, into `tree`; a zip naming paths outside it is refused."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = info.filename.removeprefix(prefix)
                if info.is_dir() or rel == info.filename:
                    continue
                dest = (tree / rel).resolve()
                if not dest.is_relative_to(tree.resolve()):
                    raise RuntimeFailure(f"{archive.name} names a path outside its module: {info.filename}")
                dest.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, dest.open("wb") as out:
                    shutil.copyfileobj(src, out)
    except zipfile.BadZipFile as e:
        raise RuntimeFailure(f"the module proxy sent a bad zip for {prefix.rstrip('/')}: {e}") from None


def modules(name: str, module: str) -> list[tuple[str, str]]:
    """(Go module, repository folder) pairs making up upstream `name`'s repository, whose pinned module is `module`."""
    return [(m, prefix) for m, prefix, _ in TREES.get(name, [(module, "", [])])]


def chart_dir(root: Path, chart: str) -> Path:
    """The folder of the Helm chart named `chart` in an upstream tree (the shallowest, if several)."""
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if "Chart.yaml" in files:
            text = Path(folder, "Chart.yaml").read_text(encoding="utf-8", errors="replace")
            if re.search(rf"^name:\s*['\"]?{re.escape(chart)}['\"]?\s*$", text, re.MULTILINE):
                found.append(Path(folder))
    if not found:
        raise RuntimeFailure(f"no Helm chart named {chart} in {root}")
    return min(found, key=lambda p: (len(p.parts), str(p)))


FLUX_RELEASE = re.compile(r"/releases/download/([^/]+)/([a-z0-9-]+)\.deployment\.yaml$")


def flux_install_tree(flux2: Path, dest: Path) -> Path:
    """A stand-in for Flux's install artifact (flux-manifests), holding what we need of it: its controllers'
    Deployments with their images. flux2's manifests/install names the controllers; each base names its
    controller's release, whose Deployment runs image `fluxcd/<controller>:<release>`, renamed by the install's
    `images:` (to ghcr.io/fluxcd). The real manifests are fetched from GitHub releases, which we cannot reach."""
    from cluster_init import yamlfile

    install_dir = flux2 / "manifests" / "install"
    install = yamlfile.parse((install_dir / "kustomization.yaml").read_text(encoding="utf-8"))
    deployments = []
    for resource in install.get("resources") or []:
        base = install_dir / resource / "kustomization.yaml"
        if not base.is_file():
            continue
        for url in yamlfile.parse(base.read_text(encoding="utf-8")).get("resources") or []:
            if match := FLUX_RELEASE.search(str(url)):
                release, name = match.groups()
                deployments.append(_deployment(name, f"fluxcd/{name}:{release}"))
    if not deployments:
        raise RuntimeFailure(f"{install_dir} names no Flux controller release; has flux2 changed its layout?")
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "controllers.yaml").write_text(yamlfile.dump(deployments), encoding="utf-8")
    kustomization = {"namespace": install.get("namespace", "flux-system"), "resources": ["controllers.yaml"],
                     "images": install.get("images") or []}
    (dest / "kustomization.yaml").write_text(yamlfile.dump_one(kustomization), encoding="utf-8")
    return dest


def _deployment(name: str, image: str) -> dict[str, object]:
    """A controller's Deployment as far as images go; `args` and a readiness probe as the real ones have (the
    bundle appends to the one and sets the other's period)."""
    probe = {"httpGet": {"path": "/readyz", "port": "healthz"}}
    container = {"name": "manager", "image": image, "args": [], "readinessProbe": probe}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"template": {"spec": {"containers": [container]}}}}


def repository_path(name: str, module: str, version: str, path: str) -> Path:
    """The folder `path` (as a unit names it, e.g. `./test/infrastructure/docker/config/default`) of upstream
    `name`'s repository at `version`, in the extracted module that holds it."""
    rel = os.path.normpath(path.removeprefix("./")).replace(os.sep, "/")
    if rel.startswith("../") or rel.startswith("/") or rel == "..":
        raise RuntimeFailure(f"upstream path {path!r} of {name} leaves the repository")
    rel = "" if rel == "." else rel
    holders = [(m, p) for m, p in modules(name, module) if not p or rel == p or rel.startswith(p + "/")]
    mod, prefix = max(holders, key=lambda mp: len(mp[1]))
    inner = rel.removeprefix(prefix).lstrip("/")
    return module_dir(mod, version) / inner
