"""T2: Flux, built here and served from the stack's registry, reconciles the upstream sources the chart reads.

The kind nodes pull Flux's images through containerd's mirror config from the local registry; the
Cluster API and provider trees and Flux's own install are OCI artifacts there, made from the pinned
modules. Every OCIRepository the chart would create for a mirrored upstream becomes Ready.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cluster_init import environment, helm, tools
from cluster_init.flux import substitute
from testenv.stack import charts, cluster, controllers, host, registry, sources
from testenv.stack.versions import upstream
from tests.conftest import ROOT

pytestmark = pytest.mark.t2

NAME = "t2-flux"


@pytest.fixture(scope="module")
def kubeconfig() -> Iterator[Path]:
    host.ensure_host()
    registry.push([controllers.ensure_image(c) for c in controllers.flux()])
    cluster.down(NAME)
    try:
        config = cluster.up(NAME)
        cluster.apply(config, sources.flux_install().decode())
        yield config
    finally:
        cluster.down(NAME)


def unavailable_deployments(kubeconfig: Path) -> str | None:
    items = json.loads(cluster.kubectl(kubeconfig, "get", "deployments", "-n", "flux-system", "-o", "json"))["items"]
    pending = [d["metadata"]["name"] for d in items
               if (d["status"].get("availableReplicas") or 0) < (d["spec"].get("replicas") or 1)]
    return ", ".join(pending) if pending or items else "no deployments yet"


def test_flux_controllers_run_from_the_local_registry(kubeconfig: Path) -> None:
    cluster.wait_until("Flux controllers available", lambda: unavailable_deployments(kubeconfig))
    assert cluster.failed_pulls(NAME) == []


def test_every_mirrored_source_is_ready(kubeconfig: Path) -> None:
    urls = sources.publish()
    for name, url in urls.items():
        source = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                  "metadata": {"name": name, "namespace": "flux-system"},
                  "spec": {"url": url, "insecure": True, "interval": "10m",
                           "ref": {"tag": upstream(name)["version"]}}}
        cluster.apply(kubeconfig, json.dumps(source))
    cluster.wait_until("OCIRepositories Ready", lambda: ready(kubeconfig, "ocirepositories", set(urls)))


def ready(kubeconfig: Path, resource: str, names: set[str]) -> str | None:
    """Which of these Flux objects (in flux-system) are not Ready yet, with their message."""
    items = json.loads(cluster.kubectl(kubeconfig, "get", resource, "-n", "flux-system", "-o", "json"))["items"]
    conditions = {i["metadata"]["name"]: {c["type"]: c for c in i.get("status", {}).get("conditions", [])}
                  for i in items}
    pending = []
    for name in sorted(names):
        condition = conditions.get(name, {}).get("Ready")
        if condition is None or condition["status"] != "True":
            pending.append(f"{name}: {condition.get('message', '') if condition else 'not reconciled yet'}")
    return "; ".join(pending) or None


def test_the_cert_manager_unit_installs_from_the_local_registry(kubeconfig: Path) -> None:
    """The bundle's own cert-manager HelmRelease, with the stack's cert-manager (see charts.py) from the
    local registry: chart, CRDs and images; Ready means helm-controller saw every workload Ready."""
    registry.push([controllers.ensure_image(c) for c in controllers.cert_manager()])
    repository = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
                  "metadata": {"name": "cert-manager", "namespace": "flux-system"},
                  "spec": {"type": "oci", "url": charts.publish(), "insecure": True, "interval": "10m"}}
    variables = {"CLUSTER_INIT_NAMESPACE": "flux-system", "CERT_MANAGER_CHART": "cert-manager",
                 "CERT_MANAGER_VERSION": controllers.CERT_MANAGER_STACK_VERSION,
                 "CERT_MANAGER_IMAGE_REGISTRY": upstream("cert-manager")["image_registry"]}
    release = yaml.safe_load(substitute((ROOT / "kustomize-components/cert-manager/helmrelease.yaml").read_text(),
                                        variables))
    release["spec"]["values"]["installCRDs"] = True  # cert-manager v1.11's name for crds.enabled
    for obj in (repository, release):
        cluster.apply(kubeconfig, json.dumps(obj))
    cluster.wait_until("cert-manager HelmRelease Ready",
                       lambda: ready(kubeconfig, "helmreleases", {"cert-manager"}), timeout=300)
    assert cluster.failed_pulls(NAME) == []


PROVIDER_UNITS = ("capi-core", "capi-bootstrap-kubeadm", "capi-controlplane-kubeadm", "capi-infra-docker")


def offline_variables(tmp: Path) -> dict[str, str]:
    """The chart's unit variables for kubeadm-capd with the stack's mirrors set through the chart's own
    `upstreams` overrides, as `helm template` renders them (the cluster-init-vars ConfigMap)."""
    env_dir = tmp / "kubeadm-capd-offline"
    shutil.copytree(ROOT / "environment-values" / "kubeadm-capd", env_dir)
    mirrors = {name: {"kind": "OCIRepository", "url": sources.in_cluster_url(name), "insecure": True}
               for name in sources.TREES}
    with (env_dir / "values.yaml").open("a") as values:
        values.write(yaml.safe_dump({"upstreams": mirrors}))
    objects = helm.template(environment.load(env_dir), "bootstrap", "flux-system")
    data: dict[str, str] = next(o["data"] for o in objects if o["metadata"]["name"] == "cluster-init-vars")
    return data


def test_provider_units_reconcile_from_the_local_registry(kubeconfig: Path, tmp_path: Path) -> None:
    """Each Cluster API provider unit's child Kustomization, built from our components and substituted with the
    chart's variables as Flux does, applies the upstream provider from the mirrored source: its controllers
    run from the local registry and the Kustomization is Ready (its health checks passed)."""
    registry.push([controllers.ensure_image(c) for c in controllers.cluster_api()])
    sources.publish()
    variables = offline_variables(tmp_path)
    for unit in PROVIDER_UNITS:
        built = tools.run("kustomize", ["build", str(ROOT / "kustomize-components" / unit)])
        assert built.returncode == 0, built.stderr
        cluster.apply(kubeconfig, substitute(built.stdout, variables))
    children = {f"{unit}-components" for unit in PROVIDER_UNITS}
    cluster.wait_until("provider units Ready", lambda: ready(kubeconfig, "kustomizations", children), timeout=600)
    assert cluster.failed_pulls(NAME) == []
