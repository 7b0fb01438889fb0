"""T1: bootstrap's proof that the management cluster manages itself, on a real kube-apiserver with the pinned CRDs.

The pivot's mark starts an upgrade of the management cluster's release, which renders the cluster definitions
unit there. The proof holds once that unit exists and every unit is Ready, as the upgrade's own wait would see
them, without waiting for helm-controller to report the release Ready at its next 5 s poll. A unit that is
not Ready, a missing definitions unit or a failed release keeps bootstrap waiting, and the reason names it.
"""

from __future__ import annotations

import asyncio

import pytest

from cluster_init import bootstrap
from cluster_init.errors import RuntimeFailure
from cluster_init.kube import Client, KubeConfig
from tests.t1.conftest import Cluster

pytestmark = pytest.mark.t1

CLUSTER = "management-cluster"
NOW = "2026-01-01T00:00:00Z"
KUSTOMIZE, HELM = "kustomize.toolkit.fluxcd.io/v1", "helm.toolkit.fluxcd.io/v2"


def condition(kind: str, status: str, message: str = "", reason: str = "Done") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason, "message": message, "lastTransitionTime": NOW}


def create(cluster: Cluster, api: str, plural: str, namespace: str, body: dict[str, object],
           conditions: list[dict[str, str]]) -> None:
    """The object, then the status its controller would have written (observed at its generation)."""
    base = f"/apis/{api}/namespaces/{namespace}/{plural}"
    made = cluster.client.request("POST", base, {"apiVersion": api, **body})
    made["status"] = {"observedGeneration": made["metadata"]["generation"], "conditions": conditions}
    cluster.client.request("PUT", f"{base}/{made['metadata']['name']}/status", made)


def unit(cluster: Cluster, namespace: str, name: str, *conditions: dict[str, str]) -> None:
    create(cluster, KUSTOMIZE, "kustomizations", namespace, {
        "kind": "Kustomization", "metadata": {"name": name},
        "spec": {"interval": "30m", "prune": True, "sourceRef": {"kind": "OCIRepository", "name": "source"}}},
        list(conditions))


def release(cluster: Cluster, namespace: str, *conditions: dict[str, str]) -> None:
    create(cluster, HELM, "helmreleases", namespace, {
        "kind": "HelmRelease", "metadata": {"name": "telco-cloud-init"},
        "spec": {"interval": "30m", "chartRef": {"kind": "OCIRepository", "name": "chart"}}}, list(conditions))


@pytest.fixture
def moved(cluster: Cluster, namespace: str) -> str:
    """The Cluster as its controllers leave it after the move: unpaused, observed, Available."""
    create(cluster, "cluster.x-k8s.io/v1beta2", "clusters", namespace,
           {"kind": "Cluster", "metadata": {"name": CLUSTER}, "spec": {"paused": False}},
           [condition("Available", "True")])
    return namespace


def gap(cluster: Cluster, namespace: str) -> str | None:
    config = KubeConfig.load(cluster.control_plane.kubeconfig)
    found: str | None = bootstrap.on(config, lambda c: bootstrap._not_self_managed(c, namespace, CLUSTER))
    return found


UPGRADING = condition("Reconciling", "True", "Running 'upgrade' action", "Progressing")


def test_every_unit_ready_is_the_proof_while_the_release_still_upgrades(cluster: Cluster, moved: str) -> None:
    release(cluster, moved, UPGRADING, condition("Ready", "Unknown", "Running 'upgrade' action", "Progressing"))
    for name in ("cert-manager", CLUSTER):
        unit(cluster, moved, name, condition("Ready", "True", "Applied revision: latest"))
    assert gap(cluster, moved) is None


def test_a_unit_not_ready_is_named(cluster: Cluster, moved: str) -> None:
    release(cluster, moved, UPGRADING)
    unit(cluster, moved, CLUSTER, condition("Ready", "True"))
    unit(cluster, moved, "cert-manager", condition("Ready", "False", "health check failed", "HealthCheckFailed"))
    assert gap(cluster, moved) == "its Kustomization cert-manager is not Ready yet: health check failed"


def test_without_the_definitions_unit_the_upgrade_has_not_run(cluster: Cluster, moved: str) -> None:
    release(cluster, moved, condition("Ready", "True"))
    unit(cluster, moved, "cert-manager", condition("Ready", "True"))
    assert gap(cluster, moved) == (f"its Kustomization {CLUSTER} is not there yet "
                                   "(the release's upgrade after the pivot)")


def test_a_failed_release_is_named(cluster: Cluster, moved: str) -> None:
    release(cluster, moved, condition("Stalled", "True", "upgrade retries exhausted", "RetriesExceeded"))
    unit(cluster, moved, CLUSTER, condition("Ready", "True"))
    assert gap(cluster, moved) == "its HelmRelease telco-cloud-init failed: upgrade retries exhausted"


def test_the_wait_wakes_at_the_change_that_completes_the_proof(cluster: Cluster, moved: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Watched, not polled: with neither a polling fallback nor its own deadline within the test's, only a watch
    event can end the wait, once it has found the unit not Ready."""
    release(cluster, moved, UPGRADING)
    unit(cluster, moved, CLUSTER, condition("Ready", "False", "reconciling", "Progressing"))
    found_not_ready = asyncio.Event()
    check = bootstrap._not_self_managed

    async def checked(client: Client, namespace: str, name: str) -> str | None:
        why = await check(client, namespace, name)
        if why is not None:
            found_not_ready.set()
        return why

    monkeypatch.setattr(bootstrap, "_not_self_managed", checked)

    async def ready_soon(client: Client) -> None:
        waiting = asyncio.create_task(bootstrap._until_self_managed(client, moved, CLUSTER, 3600, fallback=3600))
        await asyncio.wait_for(found_not_ready.wait(), timeout=30)
        res = await client.resource(KUSTOMIZE, "Kustomization")
        obj = await client.get(res, CLUSTER, moved)
        obj["status"]["conditions"] = [condition("Ready", "True", "Applied revision: latest")]
        await client.update(res, obj, subresource="status")
        await asyncio.wait_for(waiting, timeout=30)

    bootstrap.on(KubeConfig.load(cluster.control_plane.kubeconfig), ready_soon)


def test_the_wait_ends_at_its_deadline_with_the_reason(cluster: Cluster, moved: str) -> None:
    release(cluster, moved, UPGRADING)
    unit(cluster, moved, CLUSTER, condition("Ready", "False", "health check failed", "HealthCheckFailed"))
    with pytest.raises(RuntimeFailure, match=r"^the management cluster does not manage Cluster management-cluster: "
                                             r"its Kustomization management-cluster is not Ready yet: health check"):
        bootstrap.on(KubeConfig.load(cluster.control_plane.kubeconfig),
                     lambda c: bootstrap._until_self_managed(c, moved, CLUSTER, 0))
