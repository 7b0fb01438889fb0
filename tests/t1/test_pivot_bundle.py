"""T1: the pivot on Cluster API installed the way our bundle installs it.

Flux applies the upstream `config/default` manifests of each provider (kustomize-components/capi-*), and the
bundle's upstream-defaults component labels what they install `clusterctl.cluster.x-k8s.io` (Flux
`commonMetadata`). There is no clusterctl inventory (no Provider objects, not even their CRD). The pivot must
move everything from such a cluster; and where the label is missing it must refuse, never exit 0 having moved
nothing while Cluster objects exist.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from cluster_init.kube import ApiError
from cluster_init.pivot.discovery import CRD
from cluster_init.pivot.names import CLUSTERCTL_GROUP, CLUSTERCTL_LABEL
from tests.t1 import capi_graphs as graphs
from tests.t1.pivot_fixtures import (
    MOVED_KINDS,
    Pair,
    bundle_crd_files,
    bundle_labels,
    check_moved,
    run,
    snapshot,
    start_pair,
    stop_pair,
)
from tests.t1.test_pivot import cli, lines, pivot_args

pytestmark = pytest.mark.t1

Snap = dict[tuple[str, str, str], dict]  # type: ignore[type-arg]


@pytest.fixture(scope="module")
def bundle_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    started = start_pair("bundle", bundle_crd_files(tmp_path_factory.mktemp("bundle-crds")), inventory=False)
    try:
        yield started
    finally:
        stop_pair(started)


def objects(ns: str) -> list[graphs.Obj]:
    flavor = graphs.Flavor("kubeadm", "docker")  # what the kubeadm-capd environment installs
    return (graphs.cluster_objects("wl-a", ns, flavor, cluster_class="quick-start") +
            graphs.cluster_objects("wl-b", ns, flavor, control_planes=1, workers=1) +
            graphs.namespace_objects(ns, ["wl-a", "wl-b"], cluster_class="quick-start"))


def generate(pair: Pair, ns: str) -> Snap:
    async def go() -> Snap:
        src, dst = pair.clients()
        async with src, dst:
            await graphs.create(src, objects(ns))
            return await snapshot(src, [ns], MOVED_KINDS)

    return run(go())


def snapshots(pair: Pair, ns: str) -> tuple[Snap, Snap]:
    async def go() -> tuple[Snap, Snap]:
        src, dst = pair.clients()
        async with src, dst:
            return await snapshot(src, [ns], MOVED_KINDS), await snapshot(dst, [ns], MOVED_KINDS)

    return run(go())


def set_bundle_label(pair: Pair, present: bool) -> None:
    """Put the bundle's label on every CRD of the source, or take it off (as a bundle before it labelled them)."""
    async def go() -> None:
        src, _dst = pair.clients()
        async with src:
            for crd in await src.list(CRD):
                value = bundle_labels()[CLUSTERCTL_LABEL] if present else None
                await src.patch(CRD, crd["metadata"]["name"], None, {"metadata": {"labels": {CLUSTERCTL_LABEL: value}}})

    run(go())


def test_the_bundle_labels_what_the_move_needs_and_there_is_no_inventory(bundle_pair: Pair) -> None:
    async def go() -> tuple[list[dict], bool]:  # type: ignore[type-arg]
        src, _dst = bundle_pair.clients()
        async with src:
            crds = await src.list(CRD)
            try:
                await src.resource(f"{CLUSTERCTL_GROUP}/v1alpha3", "Provider")
                inventory = True
            except ApiError:
                inventory = False
            return crds, inventory

    crds, inventory = run(go())
    assert not inventory
    assert len(crds) >= 20
    assert all(CLUSTERCTL_LABEL in c["metadata"]["labels"] for c in crds)  # the bundle's commonMetadata
    assert all("cluster.x-k8s.io/provider" in c["metadata"]["labels"] for c in crds)  # the upstream manifests'


def test_moves_everything_of_a_bundle_install(bundle_pair: Pair) -> None:
    ns = f"bd-{uuid.uuid4().hex[:8]}"
    before = generate(bundle_pair, ns)
    assert sum(1 for kind, _, _ in before if kind == "Cluster") == 2

    code, out, err = cli(*pivot_args(bundle_pair, ns))

    assert code == 0, err
    assert f"moved {len(before)} objects" in out, out
    source_after, target_after = snapshots(bundle_pair, ns)
    problems = check_moved(before, source_after, target_after, statuses=False)
    assert not problems, "\n".join(problems[:30])


def test_refuses_when_the_crds_lack_the_clusterctl_label(bundle_pair: Pair) -> None:
    ns = f"bd-{uuid.uuid4().hex[:8]}"
    before = generate(bundle_pair, ns)
    set_bundle_label(bundle_pair, present=False)
    try:
        for extra in ((), ("--dry-run",)):
            code, out, err = cli(*pivot_args(bundle_pair, ns, *extra))

            assert code == 2, (extra, out, err)
            errors = lines(err)
            assert errors, err
            assert any(e.startswith("error: CustomResourceDefinition clusters.cluster.x-k8s.io: metadata.labels: "
                                    f"has no `{CLUSTERCTL_LABEL}` label, so the pivot cannot move its Cluster "
                                    f"objects in namespace {ns}") for e in errors), errors
            assert all("upstream-defaults" in e for e in errors), errors
            source_after, target_after = snapshots(bundle_pair, ns)
            assert not target_after
            assert set(source_after) == set(before)
            assert not any((o.get("spec") or {}).get("paused") for o in source_after.values())
    finally:
        set_bundle_label(bundle_pair, present=True)
