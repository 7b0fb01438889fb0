"""T1 fixtures: a real control plane (etcd, kube-apiserver, kube-controller-manager) with the pinned CRDs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cluster_init.kube.sync import SyncClient
from testenv import ControlPlane
from testenv.crds import crd_files


class Cluster:
    """A running control plane and an admin client (cluster_init.kube's, as everything uses)."""

    def __init__(self, control_plane: ControlPlane) -> None:
        self.control_plane = control_plane
        self.client: SyncClient = control_plane.client()

    def create_namespace(self, name: str) -> None:
        self.client.request("POST", "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                           "metadata": {"name": name}})


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """One control plane for the session, all pinned CRDs Established; always torn down.

    A fixed name, stopped first: whatever a killed earlier run left behind is cleaned up here.
    """
    control_plane = ControlPlane("t1-validation")
    control_plane.down()
    try:
        control_plane.up(crds=crd_files())
        yield Cluster(control_plane)
    finally:
        control_plane.down()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    cluster.create_namespace(name)
    yield name
    cluster.client.request("DELETE", f"/api/v1/namespaces/{name}")
