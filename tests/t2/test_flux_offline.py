"""T2: Flux, built here and served from the stack's registry, reconciles the chart and the upstream sources.

The kind nodes pull Flux's images through containerd's mirror config from the local registry; the
Cluster API and provider trees and Flux's own install are OCI artifacts there, made from the pinned
modules. Every OCIRepository the chart would create for a mirrored upstream becomes Ready; then the chart's
own bootstrap release, from this repository pushed to that registry, installs the providers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from cluster_init import environment, images, publish, render
from cluster_init.bootstrap import fluxinstall
from testenv.stack import charts, cluster, controllers, host, registry, sources
from testenv.stack import environment as stack_environment
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
        # Tuned as `cluster-init bootstrap` installs it: with Flux's default 4 workers, units waiting on their
        # children hold them all and starve the children.
        install = [fluxinstall.tuned(o) for o in yaml.safe_load_all(sources.flux_install().decode()) if o]
        cluster.apply(config, yaml.safe_dump_all(install))
        yield config
    finally:
        cluster.down(NAME)


def unavailable_deployments(kubeconfig: Path) -> str | None:
    items = json.loads(cluster.kubectl(kubeconfig, "get", "deployments", "-n", "flux-system", "-o", "json"))["items"]
    pending = [d["metadata"]["name"] for d in items
               if (d["status"].get("availableReplicas") or 0) < (d["spec"].get("replicas") or 1)]
    return ", ".join(pending) if pending or items else "no deployments yet"


def test_flux_controllers_run_from_the_local_registry(kubeconfig: Path) -> None:
    """...and post no events to the notification-controller the install leaves out: each post to it is tried
    five times, holding a reconcile ~15 s."""
    cluster.wait_until("Flux controllers available", lambda: unavailable_deployments(kubeconfig))
    assert cluster.failed_pulls(NAME) == []
    items = json.loads(cluster.kubectl(kubeconfig, "get", "deployments", "-n", "flux-system", "-o", "json"))["items"]
    addresses = {d["metadata"]["name"]: [a for a in d["spec"]["template"]["spec"]["containers"][0]["args"]
                                         if a.startswith("--events-addr")] for d in items}
    assert addresses == {name: ["--events-addr="] for name in sources.FLUX_CONTROLLERS}


def test_every_mirrored_source_is_ready(kubeconfig: Path) -> None:
    urls = sources.publish()
    for name, url in urls.items():
        source = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                  "metadata": {"name": name, "namespace": "flux-system"},
                  "spec": {"url": url, "insecure": True, "interval": "10m",
                           "ref": {"tag": upstream(name)["version"]}}}
        cluster.apply(kubeconfig, json.dumps(source))
    cluster.wait_until("OCIRepositories Ready", lambda: ready(kubeconfig, "ocirepositories", set(urls)))


def ready(kubeconfig: Path, resource: str, names: set[str], namespace: str = "flux-system") -> str | None:
    """Which of these Flux objects are not Ready yet, with their message."""
    items = json.loads(cluster.kubectl(kubeconfig, "get", resource, "-n", namespace, "-o", "json"))["items"]
    conditions = {i["metadata"]["name"]: {c["type"]: c for c in i.get("status", {}).get("conditions", [])}
                  for i in items}
    pending = []
    for name in sorted(names):
        condition = conditions.get(name, {}).get("Ready")
        if condition is None or condition["status"] != "True":
            pending.append(f"{name}: {condition.get('message', '') if condition else 'not reconciled yet'}")
    return "; ".join(pending) or None


NAMESPACE = "cluster-init"
PROVIDER_UNITS = {"cert-manager", "capi-core", "capi-bootstrap-kubeadm", "capi-controlplane-kubeadm",
                  "capi-infra-docker"}


def offline_environment(tmp: Path, tag: str) -> Path:
    """kubeadm-capd pointed at the stack (testenv.stack.environment), this repository from the local registry at
    `tag`; the management cluster's unit suspended: the tier ends with its providers Ready."""
    source = {"kind": "OCIRepository", "url": f"oci://{registry.NAME}:{registry.PORT}/cluster-init", "ref": tag,
              "insecure": True}
    return stack_environment.write(ROOT / "environment-values" / "kubeadm-capd", tmp / "kubeadm-capd-offline",
                                   {"source": source, "units": {"management-cluster": {"suspend": True}}})


def test_the_chart_reconciles_the_providers_from_the_local_registry(kubeconfig: Path, tmp_path: Path) -> None:
    """The chart's bootstrap HelmRelease for kubeadm-capd, from this repository pushed to the local registry
    (source.kind OCIRepository), with what the CLI applies itself: its units install cert-manager, Cluster API
    core, the kubeadm providers and CAPD, each Ready (Flux's health checks passed: real pods running), and no
    pull ever fails, since every image the bundle asks for is in the local registry."""
    registry.push([controllers.ensure_image(c) for c in controllers.cert_manager() + controllers.cluster_api()])
    sources.publish()
    charts.publish()
    published = publish.publish(f"127.0.0.1:{registry.HOST_PORT}/cluster-init", insecure=True)
    env = environment.load(offline_environment(tmp_path, published.tag))
    for obj in render.cli_objects(env, NAMESPACE):
        cluster.apply(kubeconfig, json.dumps(obj))
    cluster.wait_until("the chart's release Ready",
                       lambda: ready(kubeconfig, "helmreleases", {"telco-cloud-init"}, NAMESPACE), timeout=300)
    cluster.wait_until("provider units Ready",
                       lambda: ready(kubeconfig, "kustomizations", PROVIDER_UNITS, NAMESPACE), timeout=900)
    units = json.loads(cluster.kubectl(kubeconfig, "get", "kustomizations", "-n", NAMESPACE, "-o", "json"))["items"]
    suspended = {u["metadata"]["name"] for u in units if u["spec"].get("suspend")}
    assert suspended == {"management-cluster"}
    assert {"pivot", "telco-cloud-init-management"} <= {u["metadata"]["name"] for u in units}
    assert cluster.failed_pulls(NAME) == []
    assert readiness_periods(kubeconfig) == {
        "capi-controller-manager": 1, "capi-kubeadm-bootstrap-controller-manager": 1,
        "capi-kubeadm-control-plane-controller-manager": 1, "capd-controller-manager": 1, "cert-manager-webhook": 1}
    assert_images_lists_what_was_pulled(tmp_path)


def readiness_periods(kubeconfig: Path) -> dict[str, int]:
    """How often the bundle has the providers' managers and cert-manager's webhook probed for readiness (every
    unit after them waits for them: Kubernetes' 10 s default would add up to 10 s to each)."""
    found = json.loads(cluster.kubectl(kubeconfig, "get", "deployments", "-A", "-o", "json"))["items"]
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["periodSeconds"]
            for d in found if d["metadata"]["name"].startswith(("capi-", "capd-", "cert-manager-webhook"))}


def assert_images_lists_what_was_pulled(tmp: Path) -> None:
    """`cluster-init images` for the bootstrap cluster names every image its nodes pulled. The listing is of the
    same environment with the product's cert-manager pin: the stack's one named deviation (charts.py) is mapped
    back to it."""
    env_dir = offline_environment(tmp / "pinned", "0.1.0-local-0")
    values = yaml.safe_load((env_dir / "values.yaml").read_text())
    del values["upstreams"]["cert-manager"]["version"]
    (env_dir / "values.yaml").write_text(yaml.safe_dump(values))
    listed = {a.ref for a in images.bill_of_materials(environment.load(env_dir), ("bootstrap",)) if a.kind == "image"}
    stack, pinned = controllers.CERT_MANAGER_STACK_VERSION, upstream("cert-manager")["version"]
    pulled = {ref.replace(f":{stack}", f":{pinned}") if "/cert-manager-" in ref else ref
              for ref in cluster.pulled_image_names(NAME)}
    assert len(pulled) >= 10, pulled  # Flux, cert-manager and four Cluster API providers
    assert pulled <= listed, f"pulled but not listed by `cluster-init images`: {sorted(pulled - listed)}"
