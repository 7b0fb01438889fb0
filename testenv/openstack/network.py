"""The address the test cloud serves on: the host's gateway on the Docker network `kind`, the one kind puts
its nodes on, so that pods there reach it (they cannot reach the host's loopback)."""

from __future__ import annotations

import json
import subprocess

NETWORK = "kind"


def _docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False, timeout=60)


def kind_gateway() -> str:
    """The IPv4 gateway of `kind`, creating the network as kind does when it is missing."""
    inspect = _docker("network", "inspect", NETWORK)
    if inspect.returncode != 0:
        created = _docker("network", "create", "--driver", "bridge", "--opt",
                          "com.docker.network.bridge.enable_ip_masquerade=true", NETWORK)
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise RuntimeError(f"docker network create {NETWORK}: {created.stderr.strip()}")
        inspect = _docker("network", "inspect", NETWORK)
    for config in json.loads(inspect.stdout)[0]["IPAM"]["Config"] or []:
        gateway = config.get("Gateway", "")
        if gateway and ":" not in gateway:
            return str(gateway)
    raise RuntimeError(f"the Docker network {NETWORK} has no IPv4 gateway")
