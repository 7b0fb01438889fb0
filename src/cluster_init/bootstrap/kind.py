"""The kind bootstrap cluster: created with what Cluster API on Docker needs, or reused when it exists.

The node mounts the host's Docker socket (CAPD creates the management cluster's machines as containers next to
it) and its kubelet accepts cgroup v1 hosts (`failCgroupV1: false`, Kubernetes >= 1.35). kind keeps the cluster's
kubeconfig itself; cluster-init asks it for a copy each run and keeps none of its own.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
from pathlib import Path

from cluster_init import tools
from cluster_init.errors import RuntimeFailure

CONFIG = """\
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    extraMounts:
      - hostPath: /var/run/docker.sock
        containerPath: /var/run/docker.sock
kubeadmConfigPatches:
  - |
    kind: KubeletConfiguration
    failCgroupV1: false
"""


def _kind(*args: str, stdin: str | None = None, limit: float = 900) -> str:
    proc = tools.run("kind", list(args), stdin=stdin, limit=limit)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeFailure(f"kind {' '.join(args[:2])} failed: {last}")
    return proc.stdout


def exists(name: str) -> bool:
    return name in _kind("get", "clusters").split()


def ensure(name: str, image: str) -> bool:
    """Create the cluster on the node `image` unless it exists; True when it was created now. kind returns once the
    API answers, without waiting for the node to be Ready (4-20 s more here, its pod network starting): what
    follows only writes to the API meanwhile, and its pods are scheduled as soon as the node is Ready."""
    if exists(name):
        return False
    _kind("create", "cluster", "--name", name, "--image", image, "--config", "-", stdin=CONFIG)
    return True


def kubeconfig(name: str, folder: Path) -> Path:
    """A private copy (0600) of the cluster's kubeconfig in `folder`."""
    text = _kind("get", "kubeconfig", "--name", name)
    fd, path = tempfile.mkstemp(prefix=f"{name}-", suffix=".kubeconfig", dir=folder)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    return Path(path)


def delete(name: str) -> None:
    if exists(name):
        _kind("delete", "cluster", "--name", name)


def prefetch(name: str, images: list[str]) -> None:
    """Start pulling `images` on the cluster's node, one pull each, and return. Flux's images are fetched while the
    node is still NotReady, so its controllers start as soon as they are scheduled; the pivot Job, created minutes
    later, starts without pulling the largest image the bootstrap cluster runs. Best effort: a failed pull here is
    the pod's own pull later, which reports it."""
    for image in images:
        with contextlib.suppress(OSError):
            subprocess.Popen(["docker", "exec", f"{name}-control-plane", "crictl", "pull", image],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
