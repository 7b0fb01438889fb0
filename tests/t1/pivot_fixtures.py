"""Two real control planes (a pivot `source` and `target`) with the pinned CRDs labelled as a provider install
would label them, for the pivot tests and benchmarks.

`clusterctl init` labels every CRD of a provider with `clusterctl.cluster.x-k8s.io` and
`cluster.x-k8s.io/provider: <type>-<name>`; the move discovers its types from those labels. The raw CRD
files of the pinned modules do not carry them, so `labelled_crd_files` writes labelled copies.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from collections.abc import Coroutine, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from cluster_init import pins
from cluster_init.kube import ApiError, Client, KubeConfig, RetryPolicy
from testenv import ControlPlane
from testenv.crds import crd_files, module_dir
from tests.t1 import capi_graphs

JSON = dict[str, Any]
T = TypeVar("T")

CLUSTERCTL_LABEL = "clusterctl.cluster.x-k8s.io"
PROVIDER_LABEL = "cluster.x-k8s.io/provider"

# (module path fragment, folder fragment) -> the provider label value clusterctl would set.
PROVIDERS: tuple[tuple[str, str, str], ...] = (
    ("sigs.k8s.io/cluster-api@", "/bootstrap/kubeadm/", "bootstrap-kubeadm"),
    ("sigs.k8s.io/cluster-api@", "/controlplane/kubeadm/", "control-plane-kubeadm"),
    ("sigs.k8s.io/cluster-api@", "/cmd/clusterctl/", "clusterctl"),
    ("sigs.k8s.io/cluster-api@", "/config/crd/bases/", "cluster-api"),
    ("sigs.k8s.io/cluster-api/test@", "/infrastructure/docker/", "infrastructure-docker"),
    ("rancher/cluster-api-provider-rke2@", "/bootstrap/", "bootstrap-rke2"),
    ("rancher/cluster-api-provider-rke2@", "/controlplane/", "control-plane-rke2"),
    ("sigs.k8s.io/cluster-api-provider-openstack@", "/config/crd/", "infrastructure-openstack"),
)


def provider_of(path: Path) -> str | None:
    """The provider a CRD file belongs to, or None for CRDs clusterctl does not install (Flux, cert-manager, ORC)."""
    text = str(path)
    for module, folder, provider in PROVIDERS:
        if module in text and folder in text:
            return provider
    return None


def labelled_crd_files(directory: Path, *, exclude_providers: Sequence[str] = ()) -> list[Path]:
    """Copies of every pinned CRD file in `directory`, provider CRDs labelled as `clusterctl init` would.
    CRDs of the providers in `exclude_providers` are left out (a target that lacks a provider)."""
    directory.mkdir(parents=True, exist_ok=True)
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: ten times faster
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    out: list[Path] = []
    for i, path in enumerate(crd_files()):
        provider = provider_of(path)
        if provider in exclude_providers:
            continue
        copy = directory / f"{i:03d}-{path.name}"
        if provider is None:
            copy.write_bytes(path.read_bytes())
            out.append(copy)
            continue
        docs = [d for d in yaml.load_all(path.read_text(), Loader=loader) if d]
        for doc in docs:
            labels = doc["metadata"].setdefault("labels", {})
            labels[CLUSTERCTL_LABEL] = ""
            labels[PROVIDER_LABEL] = provider
            if provider == "clusterctl":
                labels[f"{CLUSTERCTL_LABEL}/core"] = "inventory"
        copy.write_text(yaml.dump_all(docs, Dumper=dumper, sort_keys=False))
        out.append(copy)
    return out


# The bundle's Cluster API units of the kubeadm-capd environment: kustomize-components/<unit>/components.yaml
# names the upstream path Flux applies from the cluster-api source.
BUNDLE_UNITS = ("capi-core", "capi-bootstrap-kubeadm", "capi-controlplane-kubeadm", "capi-infra-docker")
ROOT = Path(__file__).resolve().parents[2]


def bundle_labels() -> dict[str, str]:
    """The labels our bundle adds (upstream-defaults: `commonMetadata` of the `capi-*` Flux Kustomizations)."""
    component = yaml.safe_load((ROOT / "kustomize-components/upstream-defaults/kustomization.yaml").read_text())
    for patch in component["patches"]:
        if patch["target"].get("name", "").startswith("^capi-"):
            labels: dict[str, str] = yaml.safe_load(patch["patch"])["spec"]["commonMetadata"]["labels"]
            return labels
    raise AssertionError("upstream-defaults no longer labels the capi-* Kustomizations")


def bundle_crd_files(directory: Path, *, labels: bool = True) -> list[Path]:
    """The CRDs of the bundle's Cluster API units exactly as Flux would apply them: `kustomize build` of the
    upstream path each unit names, in the pinned module, with the bundle's commonMetadata labels (`labels`)."""
    from cluster_init import tools

    directory.mkdir(parents=True, exist_ok=True)
    version = pins.upstream("cluster-api")["version"]
    extra = bundle_labels() if labels else {}
    out = []
    for unit in BUNDLE_UNITS:
        spec = yaml.safe_load((ROOT / "kustomize-components" / unit / "components.yaml").read_text())["spec"]
        assert spec["sourceRef"]["name"] == "cluster-api", unit
        path = spec["path"].removeprefix("./")
        module = "sigs.k8s.io/cluster-api"
        if path.startswith("test/"):  # a module of its own
            module, path = "sigs.k8s.io/cluster-api/test", path.removeprefix("test/")
        built = tools.run("kustomize", ["build", str(module_dir(module, version) / path)])
        assert built.returncode == 0, built.stderr
        crds = [d for d in yaml.safe_load_all(built.stdout) if d and d["kind"] == "CustomResourceDefinition"]
        for crd in crds:
            crd["metadata"].setdefault("labels", {}).update(extra)
        file = directory / f"{unit}.yaml"
        file.write_text(yaml.safe_dump_all(crds, sort_keys=False))
        out.append(file)
    return out


def identity_crd_file(directory: Path) -> Path:
    """The test-only cluster-scoped identity CRD (see capi_graphs.IDENTITY_CRD) as a file."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "zz-identity-crd.yaml"
    path.write_text(yaml.safe_dump(capi_graphs.IDENTITY_CRD, sort_keys=False))
    return path


@contextmanager
def control_plane(prefix: str, crds: Sequence[Path]) -> Iterator[ControlPlane]:
    """A fresh control plane with `crds` installed; always torn down."""
    cp = ControlPlane(f"{prefix}-{uuid.uuid4().hex[:6]}")
    try:
        cp.up(crds=crds)
        yield cp
    finally:
        cp.down()


# -- a source/target pair, and an independent check of a finished move ------------------------------------------

ANNOTATION_PREFIX = "cluster-init/pivot-"
VOLATILE = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "ownerReferences")


@dataclass
class Pair:
    """A pivot `source` and `target` control plane, with the clusterctl inventory in both."""

    source: ControlPlane
    target: ControlPlane

    @property
    def source_kubeconfig(self) -> Path:
        return self.source.kubeconfig

    @property
    def target_kubeconfig(self) -> Path:
        return self.target.kubeconfig

    def clients(self, *, retry_deadline: float = 60.0) -> tuple[Client, Client]:
        retry = RetryPolicy(deadline=retry_deadline)
        return (Client(KubeConfig.load(self.source.kubeconfig), retry=retry),
                Client(KubeConfig.load(self.target.kubeconfig), retry=retry))


def start_pair(prefix: str, crds: Sequence[Path], target_crds: Sequence[Path] | None = None, *,
               inventory: bool = True) -> Pair:
    """Start both control planes at once (each takes ~15 s); on failure, stop whatever started. With `inventory`,
    the clusterctl inventory (Provider objects) is created in both, as `clusterctl init` would."""
    source = ControlPlane(f"{prefix}-src-{uuid.uuid4().hex[:6]}")
    target = ControlPlane(f"{prefix}-dst-{uuid.uuid4().hex[:6]}")
    with ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(source.up, crds),
                   pool.submit(target.up, target_crds if target_crds is not None else crds)]
        errors = [f.exception() for f in futures]
    if any(errors):
        stop_pair(Pair(source, target))
        raise next(e for e in errors if e)
    pair = Pair(source, target)
    if inventory:
        run(_inventory(pair))
    return pair


async def _inventory(pair: Pair) -> None:
    src, dst = pair.clients()
    async with src, dst:
        for client in (src, dst):
            await capi_graphs.create(client, capi_graphs.inventory_objects())


def stop_pair(pair: Pair) -> None:
    for cp in (pair.source, pair.target):
        cp.down()


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


async def snapshot(client: Client, namespaces: Iterable[str] | None, kinds: Iterable[tuple[str, str]],
                   *, cluster_scoped: Iterable[tuple[str, str]] = ()) -> dict[tuple[str, str, str], JSON]:
    """Objects of `kinds` ((apiVersion, kind)) in `namespaces` (None: all), by (kind, namespace, name)."""
    out: dict[tuple[str, str, str], JSON] = {}
    jobs = []
    for api_version, kind in kinds:
        try:
            res = await client.resource(api_version, kind)
        except ApiError as e:
            if e.not_found:
                continue
            raise
        spaces: list[str | None] = list(namespaces) if namespaces is not None and res.namespaced else [None]
        jobs += [client.list(res, ns) for ns in spaces]
    for api_version, kind in cluster_scoped:
        try:
            jobs.append(client.list(await client.resource(api_version, kind)))
        except ApiError as e:
            if not e.not_found:
                raise
    for items in await asyncio.gather(*jobs):
        for obj in items:
            meta = obj["metadata"]
            if obj["kind"] == "ConfigMap" and meta["name"] == "kube-root-ca.crt":
                continue  # every namespace has one, made by kube-controller-manager: not part of any move
            out[(obj["kind"], meta.get("namespace", ""), meta["name"])] = obj
    return out


# Each kind at the version capi_graphs creates it in (its storage version).
MOVED_KINDS: tuple[tuple[str, str], ...] = (
    (capi_graphs.CAPI, "Cluster"), (capi_graphs.CAPI, "ClusterClass"), (capi_graphs.CAPI, "Machine"),
    (capi_graphs.CAPI, "MachineSet"), (capi_graphs.CAPI, "MachineDeployment"),
    (capi_graphs.BOOTSTRAP, "KubeadmConfig"), (capi_graphs.BOOTSTRAP, "KubeadmConfigTemplate"),
    (capi_graphs.RKE2_BOOTSTRAP, "RKE2Config"), (capi_graphs.RKE2_BOOTSTRAP, "RKE2ConfigTemplate"),
    (capi_graphs.CONTROLPLANE, "KubeadmControlPlane"), (capi_graphs.CONTROLPLANE, "KubeadmControlPlaneTemplate"),
    (capi_graphs.RKE2_CONTROLPLANE, "RKE2ControlPlane"),
    (capi_graphs.INFRA, "DockerCluster"), (capi_graphs.INFRA, "DockerClusterTemplate"),
    (capi_graphs.INFRA, "DockerMachine"), (capi_graphs.INFRA, "DockerMachineTemplate"),
    (capi_graphs.OPENSTACK, "OpenStackCluster"), (capi_graphs.OPENSTACK, "OpenStackMachine"),
    (capi_graphs.OPENSTACK, "OpenStackMachineTemplate"),
    (capi_graphs.ADDONS, "ClusterResourceSet"), (capi_graphs.ADDONS, "ClusterResourceSetBinding"),
    ("v1", "Secret"), ("v1", "ConfigMap"),
)
GLOBAL_KINDS = ((capi_graphs.IDENTITY, "TwinClusterIdentity"),)


def _plain(obj: JSON, *, status: bool = True) -> JSON:
    """An object without what a move may (and must) change: server metadata, our annotations, the pause (and
    the status, for a move that leaves statuses to the controllers)."""
    out = {k: v for k, v in obj.items() if k != "metadata" and (status or k != "status")}
    meta = {k: v for k, v in obj["metadata"].items() if k not in VOLATILE}
    meta["annotations"] = {k: v for k, v in (meta.get("annotations") or {}).items()
                           if not k.startswith(ANNOTATION_PREFIX)}
    out["metadata"] = meta
    return out


def _managers(obj: JSON) -> list[tuple[str, str, str]]:
    return sorted((m.get("manager", ""), m.get("operation", ""), m.get("subresource", ""))
                  for m in obj["metadata"].get("managedFields") or [])


def check_moved(before: dict[tuple[str, str, str], JSON], source_after: dict[tuple[str, str, str], JSON],
                target_after: dict[tuple[str, str, str], JSON], *, kept_in_source: Iterable[tuple[str, str, str]] = (),
                expected: Iterable[tuple[str, str, str]] | None = None, statuses: bool = False) -> list[str]:
    """Everything that is wrong with a finished move of `before` (the source as it was before the move, unpaused):
    a copy for each object, equal to it (spec, labels, annotations, finalizers, data, and the status when
    `statuses`, else only its status.initialization: nobody rebuilds statuses in the twin; field managers when one
    of them is a server-side apply manager),
    owner references pointing at the owners' copies, nothing left in the source, nothing paused, nothing extra."""
    problems: list[str] = []
    keys = set(before) if expected is None else set(expected)
    kept = set(kept_in_source)
    copies_by_uid = {o["metadata"]["uid"]: o for o in target_after.values()}
    for key in sorted(keys):
        src = before[key]
        copy = target_after.get(key)
        if copy is None:
            problems.append(f"{key}: missing in the target")
            continue
        if (copy["metadata"].get("annotations") or {}).get(f"{ANNOTATION_PREFIX}source-uid") != src["metadata"]["uid"] \
                and key not in kept:
            problems.append(f"{key}: the target object does not record the source UID")
        if _plain(src, status=statuses) != _plain(copy, status=statuses):
            problems.append(f"{key}: differs from the source")
        if not statuses and key not in kept:
            src_status, copy_status = src.get("status") or {}, copy.get("status") or {}
            if copy_status.get("initialization") != src_status.get("initialization"):
                problems.append(f"{key}: status.initialization {copy_status.get('initialization')} "
                                f"!= {src_status.get('initialization')}")
            if set(copy_status) - {"initialization"}:
                problems.append(f"{key}: its status was copied beyond status.initialization")
        if any(m[1] == "Apply" for m in _managers(src)) and _managers(src) != _managers(copy):
            problems.append(f"{key}: field managers {_managers(copy)} != {_managers(src)}")
        src_refs = src["metadata"].get("ownerReferences") or []
        dst_refs = copy["metadata"].get("ownerReferences") or []
        if [(r["kind"], r["name"], r.get("controller")) for r in src_refs] != \
                [(r["kind"], r["name"], r.get("controller")) for r in dst_refs]:
            problems.append(f"{key}: owner references differ")
        for ref in dst_refs:
            owner = copies_by_uid.get(ref["uid"])
            if owner is None or owner["metadata"]["name"] != ref["name"] or owner["kind"] != ref["kind"]:
                problems.append(f"{key}: owner reference {ref['kind']} {ref['name']} does not point at its copy")
        if key in source_after and key not in kept:
            problems.append(f"{key}: still in the source")
    namespaces = {k[1] for k in keys}
    for key, obj in target_after.items():
        if key[1] in namespaces and key not in keys and obj["kind"] in {k[0] for k in keys}:
            problems.append(f"{key}: in the target but not in the source")
    for where, objs in (("source", source_after), ("target", target_after)):
        for key, obj in objs.items():
            if key[1] in namespaces or key in kept:
                annotations = obj["metadata"].get("annotations") or {}
                if f"{ANNOTATION_PREFIX}paused" in annotations or "cluster.x-k8s.io/paused" in annotations or \
                        (obj["kind"] == "Cluster" and (obj.get("spec") or {}).get("paused")):
                    problems.append(f"{key}: left paused in the {where}")
    return problems


# -- clusterctl, built from the pinned Cluster API module -------------------------------------------------------


def clusterctl_version() -> str:
    return str(pins.upstream("cluster-api")["version"])


def clusterctl_binary(timeout: float = 1800.0) -> Path:
    """clusterctl of the pinned Cluster API, built once into the cache from the module proxy.

    `go install sigs.k8s.io/cluster-api/cmd/clusterctl@V` is refused since Cluster API v1.11: its go.mod replaces
    its `api` module by the folder in the repository. So a throw-away main module requires both modules at the pin
    (the replace pointing `api` at the same released version) and builds the command from it."""
    import fcntl
    import json

    from testenv.build import cache_root

    version = clusterctl_version()
    folder = cache_root() / "tools" / f"clusterctl-{version}"
    binary = folder / "clusterctl"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not binary.exists():
            info = json.loads(subprocess.run(
                ["go", "mod", "download", "-json", f"sigs.k8s.io/cluster-api@{version}"], capture_output=True,
                text=True, check=True, timeout=timeout).stdout)
            go_line = next(line for line in Path(info["GoMod"]).read_text().splitlines() if line.startswith("go "))
            module = folder / "build"
            module.mkdir(exist_ok=True)
            (module / "go.mod").write_text(
                f"module cluster-init.test/clusterctl\n\n{go_line}\n\n"
                f"require (\n\tsigs.k8s.io/cluster-api {version}\n\tsigs.k8s.io/cluster-api/api {version}\n)\n\n"
                f"replace sigs.k8s.io/cluster-api/api => sigs.k8s.io/cluster-api/api {version}\n")
            env = {**os.environ, "GOFLAGS": "-mod=mod -trimpath"}
            built = folder / "clusterctl.tmp"
            subprocess.run(["go", "build", "-o", str(built), "sigs.k8s.io/cluster-api/cmd/clusterctl"], cwd=module,
                           env=env, check=True, capture_output=True, timeout=timeout)
            os.replace(built, binary)  # atomic: an interrupted build never leaves a half binary
    return binary


def clusterctl(*args: str | Path, timeout: float = 1800.0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLUSTERCTL_DISABLE_VERSIONCHECK": "true"}
    return subprocess.run([str(clusterctl_binary()), *map(str, args)], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def clusterctl_files(directory: Path) -> set[tuple[str, str, str]]:
    """(kind, namespace, name) of every object `clusterctl move --to-directory` wrote."""
    out = set()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in directory.iterdir():
        obj = yaml.load(path.read_text(), Loader=loader)
        meta = obj["metadata"]
        out.add((obj["kind"], meta.get("namespace", ""), meta["name"]))
    return out
