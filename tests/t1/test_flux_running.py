"""T1: bootstrap's wait for Flux's controllers names a node that is not Ready, not only the Deployment.

kind returns once its API answers, before its node is Ready: when that node never gets there, the user must
learn it from this wait's error, on a real kube-apiserver.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cluster_init.bootstrap import fluxinstall, on
from cluster_init.errors import RuntimeFailure
from cluster_init.kube import KubeConfig
from tests.t1.conftest import Cluster

pytestmark = pytest.mark.t1

NODE = "t1-node-not-ready"
WHY = "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady"


def deployment(namespace: str) -> dict[str, object]:
    labels = {"app": "flux-stand-in"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "helm-controller",
                                                                        "namespace": namespace},
            "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "manager", "image": "stand-in:v1"}]}}}}


@pytest.fixture
def node_not_ready(cluster: Cluster) -> Iterator[str]:
    """A Node as a kubelet whose pod network has not started reports it (Nodes take their status on create)."""
    cluster.client.request("POST", "/api/v1/nodes", {
        "apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
        "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady", "message": WHY}]}})
    yield NODE
    cluster.client.request("DELETE", f"/api/v1/nodes/{NODE}")


def test_a_node_that_is_not_ready_is_named(cluster: Cluster, namespace: str, node_not_ready: str) -> None:
    obj = deployment(namespace)
    cluster.client.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", obj)
    config = KubeConfig.load(cluster.control_plane.kubeconfig)
    with pytest.raises(RuntimeFailure) as failure:
        on(config, lambda c: fluxinstall.running(c, [obj], timeout=0))
    assert str(failure.value) == (f"the bootstrap cluster's node {NODE} is not Ready ({WHY}), so Flux's controllers "
                                  f"cannot start: see `kubectl describe node {NODE}`")


def test_without_nodes_the_deployment_is_named(cluster: Cluster, namespace: str) -> None:
    obj = deployment(namespace)
    cluster.client.request("POST", f"/apis/apps/v1/namespaces/{namespace}/deployments", obj)
    config = KubeConfig.load(cluster.control_plane.kubeconfig)
    with pytest.raises(RuntimeFailure, match=r"^Flux's Deployment helm-controller not ready in time: "):
        on(config, lambda c: fluxinstall.running(c, [obj], timeout=0))
