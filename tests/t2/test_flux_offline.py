"""T2: Flux, built here and served from the stack's registry, reconciles the upstream sources the chart reads.

The kind nodes pull Flux's images through containerd's mirror config from the local registry; the
Cluster API and provider trees and Flux's own install are OCI artifacts there, made from the pinned
modules. Every OCIRepository the chart would create for a mirrored upstream becomes Ready.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from testenv.stack import cluster, controllers, host, registry, sources
from testenv.stack.versions import upstream

pytestmark = pytest.mark.t2

NAME = "t2-flux"


@pytest.fixture(scope="module")
def kubeconfig() -> Iterator[Path]:
    host.ensure_host()
    registry.push([controllers.ensure_image(c) for c in controllers.flux()])
    cluster.down(NAME)
    try:
        config = cluster.up(NAME)
        sources.kubectl_apply(config, sources.flux_install())
        yield config
    finally:
        cluster.down(NAME)


def wait_for(what: str, check: Callable[[], str | None], timeout: float = 180) -> None:
    """Poll `check` (None when done, else what is still missing) until done or the deadline."""
    deadline, missing = time.monotonic() + timeout, "not checked"
    while time.monotonic() < deadline:
        missing = check() or ""
        if not missing:
            return
        time.sleep(1)
    raise AssertionError(f"{what} not done after {timeout:.0f}s: {missing}")


def unavailable_deployments(kubeconfig: Path) -> str | None:
    items = json.loads(cluster.kubectl(kubeconfig, "get", "deployments", "-n", "flux-system", "-o", "json"))["items"]
    pending = [d["metadata"]["name"] for d in items
               if (d["status"].get("availableReplicas") or 0) < (d["spec"].get("replicas") or 1)]
    return ", ".join(pending) if pending or items else "no deployments yet"


def test_flux_controllers_run_from_the_local_registry(kubeconfig: Path) -> None:
    wait_for("Flux controllers available", lambda: unavailable_deployments(kubeconfig))
    assert cluster.failed_pulls(NAME) == []


def test_every_mirrored_source_is_ready(kubeconfig: Path) -> None:
    urls = sources.publish()
    for name, url in urls.items():
        source = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "OCIRepository",
                  "metadata": {"name": name, "namespace": "flux-system"},
                  "spec": {"url": url, "insecure": True, "interval": "10m",
                           "ref": {"tag": upstream(name)["version"]}}}
        sources.kubectl_apply(kubeconfig, json.dumps(source).encode())

    def not_ready() -> str | None:
        items = json.loads(cluster.kubectl(kubeconfig, "get", "ocirepositories", "-n", "flux-system",
                                           "-o", "json"))["items"]
        ready = {o["metadata"]["name"] for o in items
                 if any(c["type"] == "Ready" and c["status"] == "True" for c in o["status"].get("conditions", []))}
        return ", ".join(sorted(set(urls) - ready)) or None

    wait_for("OCIRepositories Ready", not_ready)
