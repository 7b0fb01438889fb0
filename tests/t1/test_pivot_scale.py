"""T1: a fleet of 25 clusters (every flavor, ClusterClasses, a global identity) moved between two real API
servers, after checking that we would move exactly what `clusterctl move` (built from the pinned Cluster API
module) moves for the same source."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_init.pivot import Engine, Options, Report
from tests.t1 import capi_graphs as graphs
from tests.t1.pivot_fixtures import (
    GLOBAL_KINDS,
    MOVED_KINDS,
    Pair,
    check_moved,
    clusterctl,
    clusterctl_files,
    identity_crd_file,
    labelled_crd_files,
    run,
    snapshot,
    start_pair,
    stop_pair,
)

pytestmark = pytest.mark.t1

FLEET = graphs.fleet(25, namespaces=5, cluster_class=True, identity=True, namespace_prefix="fleet")
NAMESPACES = sorted({o.namespace for o in FLEET.objects if o.namespace})  # the fleet's, and the identity's
GLOBAL_KEYS = {o.key for o in graphs.global_objects()}


@pytest.fixture(scope="module")
def fleet_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    folder = tmp_path_factory.mktemp("pivot-fleet-crds")
    pair = start_pair("fleet", [*labelled_crd_files(folder), identity_crd_file(folder)])
    try:
        async def generate() -> None:
            src, dst = pair.clients()
            async with src, dst:
                await graphs.create(src, FLEET.objects)

        run(generate())
        yield pair
    finally:
        stop_pair(pair)


def plan_keys(pair: Pair, namespace: str | None) -> set[tuple[str, str, str]]:
    async def go() -> Report:
        src, dst = pair.clients()
        async with src, dst:
            return await Engine(src, dst, Options(namespace=namespace, dry_run=True)).move()

    report = run(go())
    assert not report.problems and not report.plan.skipped
    return {(n.kind, n.namespace, n.name) for n in report.plan.nodes}


def test_we_move_what_clusterctl_moves(fleet_pair: Pair, tmp_path: Path) -> None:
    every: set[tuple[str, str, str]] = set()
    for ns in NAMESPACES:
        if ns == graphs.IDENTITY_NAMESPACE:
            continue
        directory = tmp_path / ns
        directory.mkdir()
        result = clusterctl("move", "--kubeconfig", fleet_pair.source_kubeconfig, "--namespace", ns,
                            "--to-directory", directory)
        assert result.returncode == 0, result.stderr[-2000:]
        theirs = clusterctl_files(directory)
        ours = plan_keys(fleet_pair, ns)
        assert ours == theirs, f"only ours: {sorted(ours - theirs)}; only clusterctl's: {sorted(theirs - ours)}"
        assert ours >= GLOBAL_KEYS  # the cluster-scoped identity and its Secret come along with any namespace
        every |= ours
    assert every == plan_keys(fleet_pair, None) == {o.key for o in FLEET.objects}


def test_moves_25_clusters(fleet_pair: Pair) -> None:
    async def go() -> tuple[dict[tuple[str, str, str], graphs.JSON], Report, float,
                            dict[tuple[str, str, str], graphs.JSON], dict[tuple[str, str, str], graphs.JSON]]:
        src, dst = fleet_pair.clients()
        async with src, dst:
            before = await snapshot(src, NAMESPACES, MOVED_KINDS, cluster_scoped=GLOBAL_KINDS)
            before = {k: v for k, v in before.items() if v["kind"] != "Provider"}
            t0 = time.monotonic()
            report = await Engine(src, dst, Options()).move()
            elapsed = time.monotonic() - t0
            return (before, report, elapsed,
                    await snapshot(src, NAMESPACES, MOVED_KINDS, cluster_scoped=GLOBAL_KINDS),
                    await snapshot(dst, NAMESPACES, MOVED_KINDS, cluster_scoped=GLOBAL_KINDS))

    before, report, elapsed, source_after, target_after = run(go())

    assert set(before) == {o.key for o in FLEET.objects}
    assert len(report.plan.clusters) == 25 and report.created == len(before)
    assert report.deleted == len(before) - len(GLOBAL_KEYS)  # the identity and its Secret stay in the source
    problems = check_moved(before, source_after, target_after, kept_in_source=GLOBAL_KEYS)
    assert not problems, "\n".join(problems[:30])
    print(f"moved {len(before)} objects of 25 clusters in {elapsed:.1f}s "
          f"({', '.join(f'{k} {v:.1f}s' for k, v in report.timings.items())}); requests {report.requests}")
