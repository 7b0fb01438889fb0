"""`cluster-init mirror` offline: where each artifact goes, where it is read from, the values printed for the mirror,
and which registry references are refused (the copying itself is proven in tests/t2/test_mirror.py)."""

from __future__ import annotations

import pytest

from cluster_init import pins
from cluster_init.images import Artifact
from cluster_init.mirror import Result, image_path, registry_problem, steps, values

pytestmark = pytest.mark.t0

TO = "mirror.example:5000/air"
BOM = [
    Artifact("image", "ghcr.io/fluxcd/source-controller:v1.9.5", ("cli",), ("bootstrap",)),
    Artifact("image", "docker.io/kindest/node:v1.36.5", ("management-cluster",), ("bootstrap",)),
    Artifact("image", "docker.io/cloudnativelabs/kube-router:v2.1.0", ("cni",), ("management",)),
    Artifact("chart", "https://charts.jetstack.io/cert-manager:v1.21.2", ("cert-manager",), ("bootstrap",),
             "cert-manager", "v1.21.2"),
    Artifact("source", "https://charts.jetstack.io", ("cert-manager",), ("bootstrap",), "cert-manager", "v1.21.2"),
    Artifact("source", "https://github.com/kubernetes-sigs/cluster-api.git@v1.14.2", ("capi-core",), ("bootstrap",),
             "cluster-api", "v1.14.2"),
    Artifact("source", "oci://ghcr.io/fluxcd/flux-manifests:v2.9.5", ("management-cluster-flux",), ("bootstrap",),
             "flux", "v2.9.5"),
    Artifact("source", "https://git.example/me/cluster-init.git@refs/heads/main", ("cli",), ("bootstrap",)),
]


def upstreams() -> dict[str, dict[str, object]]:
    return dict(pins.pins()["upstreams"])


@pytest.mark.parametrize(("ref", "path"), [
    ("ghcr.io/fluxcd/source-controller:v1.9.5", "ghcr.io/fluxcd/source-controller:v1.9.5"),
    ("kindest/node:v1.36.5", "docker.io/kindest/node:v1.36.5"),
    ("busybox", "docker.io/library/busybox:latest"),
    ("localhost:5000/x/y:v1", "localhost:5000/x/y:v1"),
    ("registry.k8s.io/pause:3.10@sha256:" + "a" * 64, "registry.k8s.io/pause@sha256:" + "a" * 64),
])
def test_images_keep_their_upstream_names(ref: str, path: str) -> None:
    assert image_path(ref) == path


def test_each_artifact_goes_to_its_place_and_comes_from_upstream() -> None:
    plan, notes = steps(BOM, upstreams(), TO, None)
    placed = {s.artifact.ref: (s.target, s.source, s.make) for s in plan}
    assert placed["ghcr.io/fluxcd/source-controller:v1.9.5"] == (
        f"{TO}/ghcr.io/fluxcd/source-controller:v1.9.5", "ghcr.io/fluxcd/source-controller:v1.9.5", "copy")
    assert placed["https://charts.jetstack.io/cert-manager:v1.21.2"] == (
        f"{TO}/charts/cert-manager:v1.21.2", "", "helm")
    assert placed["https://github.com/kubernetes-sigs/cluster-api.git@v1.14.2"] == (
        f"{TO}/sources/cluster-api:v1.14.2", "", "tree")
    assert placed["oci://ghcr.io/fluxcd/flux-manifests:v2.9.5"] == (
        f"{TO}/sources/flux:v2.9.5", "ghcr.io/fluxcd/flux-manifests:v2.9.5", "copy")
    assert len(plan) == 6 and len(notes) == 2  # the Helm repository (its chart is copied) and the bundle's own


def test_a_source_registry_is_read_under_the_same_layout() -> None:
    plan, _ = steps(BOM, upstreams(), TO, "mirror-a.example")
    assert all(s.make == "copy" and s.source == "mirror-a.example/" + s.target.removeprefix(f"{TO}/") for s in plan)


def test_the_values_point_every_source_and_image_registry_at_the_mirror() -> None:
    plan, _ = steps(BOM, upstreams(), TO, None)
    snippet = values([Result(s, "copied", "sha256:x", 0.0) for s in plan], upstreams(), TO, insecure=True)
    assert snippet["upstreams"]["cluster-api"] == {"kind": "OCIRepository", "url": f"oci://{TO}/sources/cluster-api",
                                                   "insecure": True}  # no image of it in this BOM
    assert snippet["upstreams"]["flux"] == {"kind": "OCIRepository", "url": f"oci://{TO}/sources/flux",
                                            "image_registry": f"{TO}/ghcr.io/fluxcd", "insecure": True}
    assert snippet["upstreams"]["cert-manager"] == {"kind": "HelmRepository", "url": f"oci://{TO}/charts",
                                                    "insecure": True}
    assert snippet["cluster"] == {"capd": {"node_image": f"{TO}/docker.io/kindest/node:v1.36.5"}}


@pytest.mark.parametrize("text", ["oci://mirror.example", "https://mirror.example", "Mirror.Example", "a b",
                                  "user:s3cret@mirror.example", "mirror.example/", ""])
def test_a_bad_registry_reference_is_refused(text: str) -> None:
    problem = registry_problem(text)
    assert problem is not None
    assert "s3cret" not in " ".join(problem)  # credentials never echoed


@pytest.mark.parametrize("text", ["mirror.example", "127.0.0.1:5001", "mirror.example:5000/air/gap", "localhost"])
def test_a_registry_reference_is_accepted(text: str) -> None:
    assert registry_problem(text) is None
