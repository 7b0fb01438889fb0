"""T2: a kind cluster on the offline node image comes up with nothing pulled, and its pod network and DNS work.

The stack is real: dockerd, kind, and a node image whose every binary and image was built here from the
pinned modules (testenv/stack/). It proves the ground the provider and bootstrap tiers stand on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testenv.stack import cluster, host, node

pytestmark = pytest.mark.t2

NAME = "t2-kind"  # fixed: a killed run's cluster is deleted by the next


@pytest.fixture(scope="module")
def kubeconfig() -> Iterator[Path]:
    host.ensure_host()
    cluster.down(NAME)
    try:
        yield cluster.up(NAME)
    finally:
        cluster.down(NAME)


def test_nodes_ready_and_system_pods_running(kubeconfig: Path) -> None:
    assert cluster.not_ready(kubeconfig) == []
    pods = json.loads(cluster.kubectl(kubeconfig, "get", "pods", "-n", "kube-system", "-o", "json"))["items"]
    names = {p["metadata"]["labels"].get("k8s-app") or p["metadata"]["labels"].get("component") for p in pods}
    assert {"kube-dns", "kube-router", "kube-proxy", "etcd", "kube-apiserver"} <= names, names


def test_nothing_was_pulled(kubeconfig: Path) -> None:
    assert cluster.pulled_images(NAME) == []


def test_a_pod_gets_an_address_and_resolves_services(kubeconfig: Path) -> None:
    image = node.kube_router_image()
    cluster.kubectl(kubeconfig, "run", "dns-probe", f"--image={image}", "--restart=Never",
                    "--image-pull-policy=Never", "--command", "--",
                    "getent", "hosts", "kubernetes.default.svc.cluster.local")
    deadline = time.monotonic() + 120
    phase = ""
    while time.monotonic() < deadline:
        pod = json.loads(cluster.kubectl(kubeconfig, "get", "pod", "dns-probe", "-o", "json"))
        phase = pod["status"].get("phase", "")
        if phase in ("Succeeded", "Failed"):
            break
        time.sleep(1)
    logs = cluster.kubectl(kubeconfig, "logs", "dns-probe")
    assert phase == "Succeeded", logs
    assert "10.96.0.1" in logs
    assert pod["status"]["podIP"].startswith("10.244.")
