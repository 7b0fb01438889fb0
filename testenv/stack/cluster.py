"""kind clusters on the offline node image: created (or reused), ready, and deleted.

The kind config is what these machines need and nothing more: the Docker socket mounted (CAPD),
kubelet allowed on cgroup v1 (`failCgroupV1: false`, Kubernetes >= 1.35), and the node image built by
`node.node_image()`. Readiness is polled against a deadline; nothing waits on a timer.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from cluster_init.bootstrap import kind as kind_config
from testenv.build import BuildError, ensure_binaries
from testenv.stack import node
from testenv.stack.host import stack_dir
from testenv.stack.progress import step

KIND_CONFIG = kind_config.CONFIG  # the product's own: the Docker socket mounted, cgroup v1 allowed


def kind(*args: str, timeout: float = 600) -> str:
    proc = subprocess.run([str(node.kind_binary()), *args], capture_output=True, text=True, check=False,
                          timeout=timeout)
    if proc.returncode != 0:
        raise BuildError(f"kind {' '.join(args[:2])} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def kubeconfig_path(name: str) -> Path:
    return stack_dir() / "clusters" / name / "kubeconfig"


def exists(name: str) -> bool:
    return name in kind("get", "clusters").split()


def kubectl(kubeconfig: Path, *args: str, timeout: float = 60, stdin: str | None = None) -> str:
    binary = ensure_binaries(names=("kubectl",)) / "kubectl"
    proc = subprocess.run([str(binary), f"--kubeconfig={kubeconfig}", *args], input=stdin, capture_output=True,
                          text=True, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise BuildError(f"kubectl {' '.join(args[:3])} failed: {proc.stderr.strip()[-1000:]}")
    return proc.stdout


def apply(kubeconfig: Path, manifest: str) -> None:
    """Server-side apply of a manifest stream, as the stack's own field manager."""
    kubectl(kubeconfig, "apply", "--server-side", "--field-manager=cluster-init-testenv", "-f", "-",
            timeout=300, stdin=manifest)


def wait_until(what: str, missing: Callable[[], str | None], timeout: float = 180) -> None:
    """Poll `missing` (None when done, else what is still missing) until done or the deadline."""
    deadline, last = time.monotonic() + timeout, "not asked yet"
    while time.monotonic() < deadline:
        try:
            last = missing() or ""
        except BuildError as e:  # the API server may still be starting
            last = str(e)
        if not last:
            return
        time.sleep(1)
    raise BuildError(f"{what}: not done after {timeout:.0f}s: {last}")


def up(name: str, timeout: float = 300) -> Path:
    """A kind cluster named `name` on the offline node image, its nodes Ready and kube-system pods running."""
    image = node.node_image()
    config = kubeconfig_path(name)
    config.parent.mkdir(parents=True, exist_ok=True)
    if not exists(name):
        (config.parent / "kind.yaml").write_text(KIND_CONFIG)
        with step(f"kind create cluster {name}"):
            kind("create", "cluster", "--name", name, "--image", image, "--config", str(config.parent / "kind.yaml"),
                 "--kubeconfig", str(config), "--wait", "0s")
    if not config.is_file():
        config.write_text(kind("get", "kubeconfig", "--name", name))
    os.chmod(config, 0o600)
    with step(f"cluster {name} ready"):
        wait_ready(config, timeout)
    return config


def not_ready(kubeconfig: Path) -> list[str]:
    """What is not ready yet: nodes not Ready, kube-system pods not Running with all containers ready."""
    pending = []
    for item in json.loads(kubectl(kubeconfig, "get", "nodes", "-o", "json"))["items"]:
        conditions = {c["type"]: c["status"] for c in item["status"].get("conditions") or []}
        if conditions.get("Ready") != "True":
            pending.append(f"node {item['metadata']['name']}")
    pods = json.loads(kubectl(kubeconfig, "get", "pods", "-n", "kube-system", "-o", "json"))["items"]
    if not pods:
        pending.append("no kube-system pods yet")
    for pod in pods:
        statuses = pod["status"].get("containerStatuses") or []
        if pod["status"].get("phase") != "Running" or not statuses or not all(s.get("ready") for s in statuses):
            reasons = [s["state"]["waiting"].get("reason", "") for s in statuses if "waiting" in s.get("state", {})]
            pending.append(f"pod {pod['metadata']['name']} {pod['status'].get('phase')} {' '.join(reasons)}".strip())
    return pending


def wait_ready(kubeconfig: Path, timeout: float) -> None:
    wait_until("cluster ready", lambda: "; ".join(not_ready(kubeconfig)) or None, timeout)


FAILED_PULL = ("fetch failed", "failed to pull", "failed to resolve")  # containerd reaching for what is not here


def containerd_log(name: str) -> list[str]:
    lines = []
    for node_name in kind("get", "nodes", "--name", name).split():
        log = subprocess.run(["docker", "exec", node_name, "journalctl", "-u", "containerd", "--no-pager"],
                             capture_output=True, text=True, check=False).stdout
        lines += log.splitlines()
    return lines


def pulled_images(name: str) -> list[str]:
    """Every image pull containerd logged (a cluster on the preloaded node image needs none)."""
    return [line for line in containerd_log(name) if "PullImage" in line or any(m in line for m in FAILED_PULL)]


def pulled_image_names(name: str) -> set[str]:
    """The references the nodes' containerd was asked to pull (`PullImage "ref"` in its log)."""
    import re

    return {m.group(1) for line in pulled_images(name) if (m := re.search(r'PullImage \\?"([^"\\]+)', line))}


def failed_pulls(name: str) -> list[str]:
    """Pulls that did not find their image in the local registry (it would have gone to the internet)."""
    return [line for line in containerd_log(name) if any(m in line for m in FAILED_PULL)]


def down(name: str) -> None:
    if exists(name):
        with step(f"kind delete cluster {name}"):
            kind("delete", "cluster", "--name", name)
