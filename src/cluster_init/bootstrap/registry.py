"""The local registry that `--source local` pushes this repository to: a Docker container on kind's network.

The clusters reach it by its container name (`cluster-init-registry:5000`); this machine reaches it on the port
Docker publishes on loopback. A URL in the values that names the in-cluster address is read through the
published port when the CLI itself fetches from it (Flux's install).
"""

from __future__ import annotations

import subprocess

from cluster_init import pins
from cluster_init.errors import RuntimeFailure

NAME = "cluster-init-registry"
PORT = 5000
HOST_PORT = 5001
NETWORK = "kind"


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=120)
    except FileNotFoundError:
        raise RuntimeFailure("docker is not installed; install Docker and start it") from None


def in_cluster() -> str:
    return f"{NAME}:{PORT}"


def host_address() -> str | None:
    """127.0.0.1:<port> when the registry runs, else None."""
    proc = _docker("port", NAME, f"{PORT}/tcp")
    if proc.returncode != 0 or not proc.stdout.strip():
        return None
    return proc.stdout.strip().splitlines()[0].replace("0.0.0.0", "127.0.0.1")


def ensure() -> str:
    """The registry running on kind's network; its host address. Started from the pinned image when absent."""
    if address := host_address():
        return address
    if _docker("network", "inspect", NETWORK).returncode != 0:
        _check(_docker("network", "create", NETWORK), f"creating the Docker network {NETWORK}")
    pin = pins.upstream("local-registry")
    _docker("rm", "--force", NAME)
    _check(_docker("run", "--detach", "--name", NAME, "--restart", "unless-stopped", "--network", NETWORK,
                   "--publish", f"127.0.0.1:{HOST_PORT}:{PORT}", f"{pin['url']}:{pin['version']}"),
           f"starting the local registry {NAME}")
    return host_address() or f"127.0.0.1:{HOST_PORT}"


def host_view(reference: str) -> tuple[str, bool]:
    """`reference` (host/path:tag, no scheme) as this machine reaches it, and whether that is plain HTTP."""
    if reference.startswith(in_cluster() + "/"):
        address = host_address()
        if address is None:
            raise RuntimeFailure(f"{reference} is in the local registry, which is not running; "
                                 "run `cluster-init bootstrap --source local` or start it")
        return address + reference[len(in_cluster()):], True
    return reference, False


def _check(proc: subprocess.CompletedProcess[str], what: str) -> None:
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeFailure(f"{what} failed: {last}")
