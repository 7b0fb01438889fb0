"""T1: a real API server with the pinned CRDs accepts everything we render and everything our units build."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_init import environment, helm, render, tools
from cluster_init.flux import substitute
from cluster_init.kube import ApiError
from testenv.crds import crd_files
from tests.conftest import CONTEXTS, ENVIRONMENTS, ROOT
from tests.t1.conftest import Cluster

pytestmark = pytest.mark.t1


def dry_run_all(cluster: Cluster, objects: list[dict[str, Any]], namespace: str) -> list[str]:
    """Dry-run apply every object; return the ones the server rejected, with its reason."""
    rejected = []
    for obj in objects:
        try:
            cluster.client.apply(obj, dry_run=True, namespace=namespace)
        except ApiError as e:
            rejected.append(f"{obj['kind']} {obj['metadata'].get('name')}: {e}")
    return rejected


def unit_variables(objects: list[dict[str, Any]]) -> dict[str, str]:
    """What Flux substitutes from: the chart's vars ConfigMap and (decoded) secret-vars Secret."""
    by_name = {o["metadata"]["name"]: o for o in objects if o["kind"] in ("ConfigMap", "Secret")}
    variables = dict(by_name["cluster-init-vars"]["data"])
    secret = by_name["cluster-init-secret-vars"]["data"]
    variables.update({k: base64.b64decode(v).decode() for k, v in secret.items()})
    return variables


def build_unit(tmp: Path, unit: dict[str, Any], variables: dict[str, str]) -> list[dict[str, Any]]:
    """What kustomize-controller would apply for one unit: build (with its components), then substitute."""
    tree = tmp / "tree"
    if not tree.exists():
        shutil.copytree(ROOT / "kustomize-components", tree / "kustomize-components")
    spec = unit["spec"]
    folder = tree / spec["path"]
    if spec.get("components"):
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
        kustomization["components"] = [*kustomization.get("components", []), *spec["components"]]
        (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    built = tools.run("kustomize", ["build", str(folder)])
    assert built.returncode == 0, built.stderr
    local = {**variables, **(spec["postBuild"].get("substitute") or {})}
    return [d for d in yaml.safe_load_all(substitute(built.stdout, local)) if d]


@cache
def storage_versions() -> dict[str, str]:
    """group/kind -> the apiVersion each pinned CRD stores: the current one, which we must write."""
    found = {}
    for file in crd_files():
        for crd in yaml.safe_load_all(file.read_text()):
            if crd:
                version = next(v["name"] for v in crd["spec"]["versions"] if v["storage"])
                found[f"{crd['spec']['group']}/{crd['spec']['names']['kind']}"] = f"{crd['spec']['group']}/{version}"
    return found


def stale_versions(objects: list[dict[str, Any]]) -> list[str]:
    current = storage_versions()
    return [f"{o['kind']} {o['metadata']['name']}: {o['apiVersion']} is not {want}" for o in objects
            if (want := current.get(f"{o['apiVersion'].split('/')[0]}/{o['kind']}")) and o["apiVersion"] != want]


def check_environment(cluster: Cluster, env_dir: Path, context: str, namespace: str, tmp: Path) -> int:
    env = environment.load(env_dir)
    rendered = render.manifests(env, context, namespace)
    rejected = dry_run_all(cluster, rendered, namespace) + stale_versions(rendered)
    objects = helm.template(env, context, namespace)
    variables = unit_variables(objects)
    units = [o for o in objects if o["kind"] == "Kustomization" and "cluster-init/unit" in o["metadata"]["labels"]]
    count = len(rendered)
    for unit in units:
        built = build_unit(tmp, unit, variables)
        count += len(built)
        problems = dry_run_all(cluster, built, namespace) + stale_versions(built)
        rejected += [f"unit {unit['metadata']['name']}: {r}" for r in problems]
    assert not rejected, "\n".join(rejected)
    return count


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_server_accepts_everything_rendered_and_built(cluster: Cluster, namespace: str, tmp_path: Path,
                                                      env: str, context: str) -> None:
    count = check_environment(cluster, ROOT / "environment-values" / env, context, namespace, tmp_path)
    assert count > 10


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_server_accepts_the_workers(cluster: Cluster, namespace: str, tmp_path: Path,
                                    make_env: Callable[..., Path], env: str) -> None:
    values = (ROOT / "environment-values" / env / "values.yaml").read_text()
    env_dir = make_env(env, values=values.replace("worker_replicas: 0", "worker_replicas: 3"))
    check_environment(cluster, env_dir, "bootstrap", namespace, tmp_path)


CLUSTER: dict[str, Any] = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster", "metadata": {"name": "c1"},
           "spec": {"clusterNetwork": {"pods": {"cidrBlocks": ["192.168.0.0/16"]}}}}


def test_the_check_bites(cluster: Cluster, namespace: str) -> None:
    """A valid Cluster passes; a misspelled field and an unknown apiVersion are refused."""
    assert not dry_run_all(cluster, [CLUSTER], namespace)
    misspelled = {**CLUSTER, "spec": {"clusterNetwrok": CLUSTER["spec"]["clusterNetwork"]}}
    wrong_version = {**CLUSTER, "apiVersion": "cluster.x-k8s.io/v1beta9"}
    bad_replicas = {"apiVersion": "controlplane.cluster.x-k8s.io/v1beta2", "kind": "KubeadmControlPlane",
                    "metadata": {"name": "cp"}, "spec": {"replicas": "three", "version": "v1.36.5",
                                                         "machineTemplate": {"spec": {"infrastructureRef": {}}}}}
    rejected = dry_run_all(cluster, [misspelled, wrong_version, bad_replicas], namespace)
    assert len(rejected) == 3, rejected
    assert "clusterNetwrok" in rejected[0]
    assert "v1beta9" in rejected[1]
    assert "replicas" in rejected[2]


def test_dry_run_changes_nothing(cluster: Cluster, namespace: str) -> None:
    assert not dry_run_all(cluster, [CLUSTER], namespace)
    with pytest.raises(ApiError) as missing:
        cluster.client.request("GET", f"/apis/cluster.x-k8s.io/v1beta2/namespaces/{namespace}/clusters/c1")
    assert missing.value.status == 404
