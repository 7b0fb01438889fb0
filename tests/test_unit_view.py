"""T0: the view of the units that `bootstrap`, `watch` and `status` show, and when each of them says done."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cluster_init import follow, unitstate
from cluster_init.unitstate import Snapshot
from tests.conftest import Result

pytestmark = pytest.mark.t0

T0 = "2026-01-01T00:00:00Z"


def unit(name: str, ready: str | None = "True", reason: str = "ReconciliationSucceeded", deps: tuple[str, ...] = (),
         suspend: bool = False, stalled: bool = False) -> dict[str, Any]:
    conditions = [] if ready is None else [{"type": "Ready", "status": ready, "reason": reason, "message": reason,
                                            "lastTransitionTime": "2026-01-01T00:01:30Z"}]
    if stalled:
        conditions.append({"type": "Stalled", "status": "True", "reason": "BuildFailed", "message": "no such path"})
    return {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
            "metadata": {"name": name, "namespace": "cluster-init", "generation": 1, "creationTimestamp": T0,
                         "labels": {unitstate.UNIT_LABEL: name}},
            "spec": {"dependsOn": [{"name": d} for d in deps], "suspend": suspend},
            "status": {"observedGeneration": 1 if ready else -1, "conditions": conditions}}  # -1: never reconciled


def release(ready: str = "True") -> dict[str, Any]:
    return {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": "telco-cloud-init", "namespace": "cluster-init", "generation": 1,
                         "creationTimestamp": T0},
            "status": {"observedGeneration": 1, "conditions": [{"type": "Ready", "status": ready, "reason": "x"}]}}


def snapshot(*objects: dict[str, Any]) -> Snapshot:
    snap = Snapshot()
    for obj in objects:
        snap.put(obj)
    return snap


def test_units_come_after_what_they_depend_on() -> None:
    snap = snapshot(unit("pivot", deps=("mgmt",)), unit("mgmt", deps=("core",)), unit("core"), unit("a-cni"))
    names = [r.name for r in unitstate.rows(snap, dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC))]
    assert names.index("core") < names.index("mgmt") < names.index("pivot")


def applied_after(provider: dict[str, Any], core: str) -> dict[str, Any]:
    """`provider` as the chart renders `after_applied: {<core>: <core>-components}`."""
    provider["spec"]["dependsOn"].append({"name": f"{core}-components", "readyExpr": "has(dep.status.inventory)"})
    provider["metadata"]["annotations"] = {"cluster-init/after-applied": core}
    return provider


def test_a_unit_comes_after_those_whose_manifests_it_waits_for() -> None:
    snap = snapshot(applied_after(unit("a-provider", deps=("cert-manager",)), "core"), unit("core"),
                    unit("cert-manager"))
    names = [r.name for r in unitstate.rows(snap, dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC))]
    assert names.index("cert-manager") < names.index("core") < names.index("a-provider")
    assert "core-components" not in names


def test_a_suspended_unit_holds_what_waits_for_its_manifests() -> None:
    """A provider held by capi-core's suspension waits for a child Kustomization that never comes: the watch
    must count it as held, not wait for it until the timeout."""
    snap = snapshot(release(), unit("core", ready=None, suspend=True),
                    applied_after(unit("a-provider", ready="False", reason="DependencyNotReady"), "core"))
    assert follow.all_settled(snap) == follow.READY


def test_states_and_reasons_as_a_user_reads_them() -> None:
    now = dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC)
    snap = snapshot(unit("done"), unit("held", suspend=True),
                    unit("next", ready="False", reason="DependencyNotReady", deps=("held",)),
                    unit("broken", ready="False", reason="BuildFailed", stalled=True))
    rows = {r.name: r for r in unitstate.rows(snap, now)}
    assert (rows["done"].state, rows["done"].seconds) == ("Ready", 90.0)  # creation to Ready
    assert rows["held"].state == "Suspended"
    assert (rows["next"].state, rows["next"].message) == ("Waiting", "DependencyNotReady")
    assert (rows["broken"].state, rows["broken"].message) == ("Failed", "no such path")
    assert rows["broken"].seconds == 300.0  # not Ready: up to now


def test_a_unit_whose_child_waits_shows_waiting_with_the_childs_reason() -> None:
    """A provider unit is applied at once and its child waits for the core CRDs: the unit, health-checking its
    child meanwhile, reads as Waiting with what the child waits for, not as Reconciling."""
    now = dt.datetime(2026, 1, 1, 0, 5, tzinfo=dt.UTC)
    waiting = "dependency 'cluster-init/core-components' is not ready"
    parent = unit("a-provider", ready="Unknown", reason="Progressing")
    parent["status"]["conditions"].append({"type": "Reconciling", "status": "True", "reason": "Progressing",
                                           "message": "Running health checks"})
    child = unit("a-provider-components", ready="False", reason="DependencyNotReady")
    child["status"]["conditions"][0]["message"] = waiting
    child["metadata"]["labels"] = {"kustomize.toolkit.fluxcd.io/name": "a-provider"}
    rows = {r.name: r for r in unitstate.rows(snapshot(parent, child), now)}
    assert (rows["a-provider"].state, rows["a-provider"].message) == ("Waiting", waiting)
    assert rows["a-provider-components"].state == "Waiting"


def test_cluster_api_objects_show_under_the_management_cluster_unit() -> None:
    machine = {"kind": "Machine", "metadata": {"name": "m-1", "namespace": "x"},
               "status": {"phase": "Provisioning", "conditions": []}}
    snap = snapshot(unit("management-cluster"), machine)
    rows = unitstate.rows(snap, dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert [(r.kind, r.name, r.state, r.depth) for r in rows][1] == ("Machine", "m-1", "Provisioning", 2)


@pytest.mark.parametrize(("objects", "expected"), [
    ((unit("a"),), None),  # the release has not rendered yet
    ((release("False"), unit("a")), None),
    ((release(), unit("a"), unit("b", deps=("a",))), follow.READY),
    ((release(), unit("a"), unit("b", ready="False", reason="Progressing", deps=("a",))), None),
    ((release(), unit("a", ready=None, suspend=True),
      unit("b", ready="False", reason="DependencyNotReady", deps=("a",)),
      unit("c", ready="False", reason="DependencyNotReady", deps=("b",))), follow.READY),  # held by a suspended unit
    ((release(), unit("a", ready="False", reason="BuildFailed", stalled=True)), follow.FAILED_EXIT),
])
def test_when_bootstrap_and_watch_are_done(objects: tuple[dict[str, Any], ...], expected: int | None) -> None:
    assert follow.all_settled(snapshot(*objects)) == expected


@pytest.mark.parametrize("source", [["gitlab"], ["git", "https://git.test/x.git"],
                                    ["git", "git.test/x@refs/heads/main"], ["git", "https://git.test/x.git@main"]])
def test_a_bad_source_is_refused_before_anything_runs(cli: Callable[..., Result], source: list[str]) -> None:
    result = cli("bootstrap", "environment-values/kubeadm-capd", "--source", *source)
    assert result.code == 2, result.err
    assert len(result.err.strip().splitlines()) == 1 and "--source" in result.err and "git URL@REF" in result.err


def test_a_kubeconfig_is_written_private_even_over_a_readable_file(tmp_path: Path) -> None:
    from cluster_init.commands.kubeconfig import write_private

    target = tmp_path / "mgmt.kubeconfig"
    target.write_text("old")
    target.chmod(0o644)
    write_private(target, "apiVersion: v1\n")
    assert target.read_text() == "apiVersion: v1\n"
    assert target.stat().st_mode & 0o777 == 0o600


def test_a_unit_the_pivot_suspended_after_it_was_ready_holds_nothing_back() -> None:
    suspended = unit("management-cluster", suspend=True)
    suspended["metadata"]["generation"] = 2  # suspending bumps the generation; Flux never observes it
    snap = snapshot(release(), suspended,
                    unit("pivot", ready="False", reason="Progressing", deps=("management-cluster",)))
    assert follow.all_settled(snap) is None  # the pivot still runs
    snap.put(unit("pivot", deps=("management-cluster",)))
    assert follow.all_settled(snap) == follow.READY


def test_the_end_of_a_watch_says_where_the_units_not_ready_stand() -> None:
    import io

    stream = io.StringIO()
    snap = snapshot(unit("done"), unit("next", ready="False", reason="DependencyNotReady", deps=("done",)))
    follow.Printer(stream).close(unitstate.rows(snap, dt.datetime(2026, 1, 1, tzinfo=dt.UTC)))
    assert stream.getvalue() == "not Ready: next Waiting (DependencyNotReady)\n"


def test_the_pivot_phase_shows_under_the_pivot_unit() -> None:
    job = {"kind": "Job", "metadata": {"name": "cluster-init-pivot", "namespace": "x",
                                       "annotations": {unitstate.PIVOT_PHASE: "create (6/10)"}},
           "status": {"active": 1, "failed": 1}}
    rows = unitstate.rows(snapshot(unit("pivot", ready="False", reason="Progressing"), job),
                          dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert (rows[1].kind, rows[1].state) == ("Job", unitstate.RUNNING)
    assert rows[1].message == "phase create (6/10); 1 failed attempts"


def pivot_job(complete: bool, phase: str = "") -> dict[str, Any]:
    conditions = [{"type": "Complete", "status": "True"}] if complete else []
    annotations = {unitstate.PIVOT_PHASE: phase} if phase else {}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": follow.PIVOT_JOB, "namespace": "cluster-init",
                                                                   "creationTimestamp": T0, "annotations": annotations},
            "status": {"conditions": conditions}}


def test_bootstrap_goes_on_once_the_pivot_job_succeeded() -> None:
    """bootstrap's stop (`moved`) does not wait for Flux to report the pivot unit and the management cluster's release
    Ready (their next health checks): the pivot Job's success is enough; a Stalled unit still fails it."""
    waiting = (release(), unit("telco-cloud-init-management", ready="False", reason="Progressing"),
               unit("pivot", ready="False", reason="Progressing"))
    assert follow.moved(snapshot(*waiting)) is None
    assert follow.moved(snapshot(*waiting, pivot_job(complete=False))) is None
    assert follow.moved(snapshot(*waiting, pivot_job(complete=True))) == follow.READY
    assert follow.all_settled(snapshot(*waiting, pivot_job(complete=True))) is None  # watch: every unit, as before
    stalled = unit("cni", ready="False", reason="BuildFailed", stalled=True)
    assert follow.moved(snapshot(*waiting, stalled, pivot_job(complete=True))) == follow.FAILED_EXIT


def test_bootstrap_goes_on_once_the_pivot_job_says_it_is_done() -> None:
    """The Job's process writes its last phase, `done`, after the move and the mark: bootstrap goes on from there,
    not 3 s later when the Job controller has counted the torn-down pod. Any phase before it is not enough."""
    waiting = (release(), unit("pivot", ready="False", reason="Progressing"))
    assert follow.moved(snapshot(*waiting, pivot_job(complete=False, phase="mark pivoted"))) is None
    assert follow.moved(snapshot(*waiting, pivot_job(complete=False, phase=unitstate.PIVOT_DONE))) == follow.READY
    rows = unitstate.rows(snapshot(*waiting, pivot_job(complete=False, phase=unitstate.PIVOT_DONE)),
                          dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    assert next(r for r in rows if r.kind == "Job").state == unitstate.READY
