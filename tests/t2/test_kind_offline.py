"""T2: a kind cluster on the offline node image comes up with nothing pulled, and its pod network and DNS work.

The stack is real: dockerd, kind, and a node image whose every binary and image was built here from the
pinned modules (testenv/stack/). It proves the ground the provider and bootstrap tiers stand on.
"""

from __future__ import annotations

import json
import subprocess
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


@pytest.mark.skipif(not host.cgroup_v1(), reason="the node image keeps kind's systemd driver on cgroup v2")
def test_on_cgroup_v1_the_kubelet_takes_the_cgroupfs_driver_from_containerd(kubeconfig: Path) -> None:
    """runc's systemd driver freezes each new container on cgroup v1, and that freeze fails now and then here
    (`unable to freeze`, a lost pod sandbox): the node image's containerd asks for cgroupfs, the kubelet follows."""
    journal = subprocess.run(["docker", "exec", f"{NAME}-control-plane", "journalctl", "-u", "kubelet", "--no-pager"],
                             capture_output=True, text=True, check=True).stdout
    assert 'received from the CRI runtime" cgroupDriver="cgroupfs"' in journal


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


PVC_PROBE = """\
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: storage-probe, namespace: default}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 16Mi}}
---
apiVersion: v1
kind: Pod
metadata: {name: storage-probe, namespace: default}
spec:
  restartPolicy: Never
  containers:
    - name: probe
      image: IMAGE
      imagePullPolicy: Never
      command: [/bin/sh, -c, "echo written > /data/probe && cat /data/probe"]
      volumeMounts: [{name: data, mountPath: /data}]
  volumes:
    - {name: data, persistentVolumeClaim: {claimName: storage-probe}}
"""


def test_default_storage_binds_a_claim(kubeconfig: Path) -> None:
    """kind's default storage (local-path-provisioner, built here): the default class provisions a volume that
    a pod writes to, with no image pulled."""
    classes = json.loads(cluster.kubectl(kubeconfig, "get", "storageclass", "-o", "json"))["items"]
    default = [c for c in classes
               if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"]
    assert [(c["metadata"]["name"], c["provisioner"]) for c in default] == [("standard", "rancher.io/local-path")]
    cluster.apply(kubeconfig, PVC_PROBE.replace("IMAGE", node.kube_router_ref()))

    def pending() -> str | None:
        pod = json.loads(cluster.kubectl(kubeconfig, "get", "pod", "storage-probe", "-o", "json"))
        phase = pod["status"].get("phase", "")
        assert phase != "Failed", cluster.kubectl(kubeconfig, "logs", "storage-probe")
        return None if phase == "Succeeded" else f"pod storage-probe {phase}"

    cluster.wait_until("a pod on a local-path volume", pending, timeout=180)
    claim = json.loads(cluster.kubectl(kubeconfig, "get", "pvc", "storage-probe", "-o", "json"))
    assert claim["status"]["phase"] == "Bound"
    assert cluster.kubectl(kubeconfig, "logs", "storage-probe").strip() == "written"
    assert cluster.failed_pulls(NAME) == []
