"""T1: the pivot between two real API servers, one namespace per test.

Every test generates its Cluster API objects (tests/t1/capi_graphs.py) in a fresh namespace of the source,
moves that namespace, and checks the result independently of the engine's own verification
(pivot_fixtures.check_moved): a copy of every object equal to it, owner references pointing at the copies,
nothing left in the source, nothing duplicated, nothing paused.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cluster_init.kube import ApiError, Resource
from cluster_init.pivot import Engine, Options, Report, Step, lock, transfer
from cluster_init.pivot.names import BLOCK_MOVE, PAUSED_BY_PIVOT
from tests.t1 import capi_graphs as graphs
from tests.t1.pivot_fixtures import (
    GLOBAL_KINDS,
    MOVED_KINDS,
    Pair,
    check_moved,
    labelled_crd_files,
    run,
    snapshot,
    start_pair,
    stop_pair,
)

pytestmark = pytest.mark.t1

JSON = dict[str, Any]
Snap = dict[tuple[str, str, str], JSON]


class Interrupt(Exception):
    """Raised by a test's observer: the engine stops there, as if the process had been killed."""


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    crds = labelled_crd_files(tmp_path_factory.mktemp("pivot-crds"))
    started = start_pair("pivot", crds)
    try:
        yield started
    finally:
        stop_pair(started)


def fresh_namespace() -> str:
    return f"pv-{uuid.uuid4().hex[:8]}"


def one_cluster(ns: str, flavor: graphs.Flavor = graphs.FLAVORS[0], **kwargs: Any) -> list[graphs.Obj]:
    return graphs.cluster_objects("wl-a", ns, flavor, **kwargs) + graphs.namespace_objects(ns, ["wl-a"])


def two_clusters(ns: str) -> list[graphs.Obj]:
    return (graphs.cluster_objects("wl-a", ns, graphs.FLAVORS[0], cluster_class="quick-start") +
            graphs.cluster_objects("wl-b", ns, graphs.FLAVORS[3], control_planes=1, workers=1) +
            graphs.namespace_objects(ns, ["wl-a", "wl-b"], cluster_class="quick-start"))


def generate(pair: Pair, objects: list[graphs.Obj]) -> None:
    async def go() -> None:
        src, dst = pair.clients()
        async with src, dst:
            await graphs.create(src, objects)

    run(go())


def snapshots(pair: Pair, ns: str) -> tuple[Snap, Snap]:
    async def go() -> tuple[Snap, Snap]:
        src, dst = pair.clients()
        async with src, dst:
            return (await snapshot(src, [ns], MOVED_KINDS, cluster_scoped=GLOBAL_KINDS),
                    await snapshot(dst, [ns], MOVED_KINDS, cluster_scoped=GLOBAL_KINDS))

    return run(go())


def move(pair: Pair, ns: str | None, observer: Callable[[Step], None] | None = None, *, retry_deadline: float = 60.0,
         **options: Any) -> Report:
    async def go() -> Report:
        src, dst = pair.clients(retry_deadline=retry_deadline)
        async with src, dst:
            return await Engine(src, dst, Options(namespace=ns, poll_interval=0.2, **options), observer).move()

    return run(go())


def assert_moved(pair: Pair, ns: str, before: Snap, *, statuses: bool = False) -> None:
    source_after, target_after = snapshots(pair, ns)
    problems = check_moved(before, source_after, target_after, statuses=statuses)
    assert not problems, "\n".join(problems[:30])


def interrupt_at(phase: str, at: str) -> Callable[[Step], None]:
    """An observer raising Interrupt at the first step of `phase` that reaches `at` (first, half or last)."""
    fired = False

    def observer(step: Step) -> None:
        nonlocal fired
        if fired or step.phase != phase or not step.total:
            return
        target = {"first": 1, "half": max(1, step.total // 2), "last": step.total}[at]
        if step.done >= target:
            fired = True
            raise Interrupt(f"{phase} {step.done}/{step.total}")

    return observer


def cli(*args: str | Path) -> tuple[int, str, str]:
    """Run `cluster-init` in a subprocess: (exit code, stdout, stderr)."""
    proc = subprocess.run([sys.executable, "-m", "cluster_init", *map(str, args)], capture_output=True, text=True,
                          timeout=300, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def pivot_args(pair: Pair, ns: str, *extra: str | Path) -> list[str | Path]:
    return ["pivot", "--from-kubeconfig", pair.source_kubeconfig, "--to-kubeconfig", pair.target_kubeconfig,
            "--namespace", ns, *extra]


# -- moves --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("flavor", graphs.FLAVORS, ids=lambda f: f"{f.bootstrap}-{f.infra}")
def test_moves_one_cluster(pair: Pair, flavor: graphs.Flavor) -> None:
    ns = fresh_namespace()
    objects = one_cluster(ns, flavor)
    generate(pair, objects)
    before, _ = snapshots(pair, ns)
    assert len(before) == len(objects)

    t0 = time.monotonic()
    report = move(pair, ns)
    elapsed = time.monotonic() - t0

    assert len(report.plan.nodes) == len(objects), sorted(n.ref for n in report.plan.nodes)
    assert report.created == len(objects) and report.deleted == len(objects)
    assert report.unpaused == 1 and not report.plan.skipped
    assert_moved(pair, ns, before)
    print(f"moved {len(objects)} objects ({flavor}) in {elapsed:.2f}s; requests {report.requests}")


def test_copy_status_also_moves_statuses(pair: Pair) -> None:
    """By default statuses are left to the controllers (as clusterctl does); --copy-status copies them too."""
    ns = fresh_namespace()
    generate(pair, two_clusters(ns))
    before, _ = snapshots(pair, ns)
    assert before[("Cluster", ns, "wl-a")]["status"]["initialization"]["infrastructureProvisioned"] is True

    code, _, err = cli(*pivot_args(pair, ns, "--copy-status"))

    assert code == 0, err
    assert_moved(pair, ns, before, statuses=True)


def test_a_clusters_status_marks_are_written_once_everything_is_copied(pair: Pair,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy gets its source's status.initialization. Cluster API connects to a Cluster as soon as it is marked
    provisioned, and when its kubeconfig Secret (copied after it) is not there yet, tries again only 30 s later:
    the Cluster's marks are written after every object has been created."""
    ns = fresh_namespace()
    generate(pair, one_cluster(ns))
    before, _ = snapshots(pair, ns)
    calls: list[tuple[str, str]] = []
    create, finish = transfer.create_copy, transfer.finish_copy

    async def recorded_create(target: Any, res: Resource, node: Any, owner_uids: Any) -> Any:
        calls.append(("create", node.kind))
        return await create(target, res, node, owner_uids)

    async def recorded_finish(target: Any, res: Resource, node: Any, current: Any, *, copy_status: bool) -> None:
        calls.append(("finish", node.kind))
        await finish(target, res, node, current, copy_status=copy_status)

    monkeypatch.setattr(transfer, "create_copy", recorded_create)
    monkeypatch.setattr(transfer, "finish_copy", recorded_finish)
    move(pair, ns)

    assert_moved(pair, ns, before)  # status.initialization copied, nothing else of the statuses
    assert ("create", "Secret") in calls
    assert calls.index(("finish", "Cluster")) > max(i for i, c in enumerate(calls) if c[0] == "create")


def test_dry_run_prints_the_plan_and_changes_nothing(pair: Pair) -> None:
    ns = fresh_namespace()
    objects = two_clusters(ns)
    generate(pair, objects)
    before = snapshots(pair, ns)

    code, out, err = cli(*pivot_args(pair, ns, "--dry-run", "-o", "json"))

    assert code == 0, err
    plan = json.loads(out)
    assert plan["dryRun"] is True and not plan["problems"] and not plan["skipped"]
    listed = {(o["kind"], o["namespace"], o["name"]) for o in plan["objects"]}
    assert listed == {o.key for o in objects}
    assert all(o["target"] == "new" and o["deleteFromSource"] for o in plan["objects"])
    levels = {(o["kind"], o["name"]): o["level"] for o in plan["objects"]}
    assert levels[("ClusterClass", "quick-start")] < levels[("Cluster", "wl-a")] < levels[("DockerCluster", "wl-a")]
    assert levels[("Cluster", "wl-a")] < levels[("Secret", "wl-a-etcd")]  # soft-owned by name
    after = snapshots(pair, ns)
    assert {k: o["metadata"]["resourceVersion"] for k, o in after[0].items()} == \
           {k: o["metadata"]["resourceVersion"] for k, o in before[0].items()}
    assert not after[1]

    code, out, _ = cli(*pivot_args(pair, ns, "--dry-run"))
    assert code == 0 and "would move" in out and "pause in the source" in out
    assert out.count(" create, then delete from the source") == len(objects)


INTERRUPTIONS = [
    ("pause", "first"), ("pause", "last"), ("namespaces", "last"), ("create", "first"), ("create", "half"),
    ("create", "last"), ("verify", "last"), ("delete", "first"), ("delete", "half"), ("delete", "last"),
    ("unpause", "first"), ("check", "last"),
]


@pytest.mark.parametrize(("phase", "at"), INTERRUPTIONS, ids=[f"{p}-{a}" for p, a in INTERRUPTIONS])
def test_interrupted_move_resumes(pair: Pair, phase: str, at: str) -> None:
    ns = fresh_namespace()
    objects = two_clusters(ns)
    generate(pair, objects)
    before, _ = snapshots(pair, ns)

    with pytest.raises(Interrupt):
        move(pair, ns, interrupt_at(phase, at))
    report = move(pair, ns)

    assert_moved(pair, ns, before)
    if phase in ("delete", "unpause", "check"):
        assert report.created == 0  # everything had been copied before the interruption
    if phase == "verify":
        assert report.resumed == len(objects) and report.created == 0


def test_resume_repairs_copies_of_objects_changed_since(pair: Pair) -> None:
    """Copied, then interrupted; someone edits a source object before the re-run: the copy follows the source."""
    ns = fresh_namespace()
    generate(pair, two_clusters(ns))
    with pytest.raises(Interrupt):
        move(pair, ns, interrupt_at("create", "last"))
    annotate(pair, graphs.CONTROLPLANE, "KubeadmControlPlane", ns, "wl-a-control-plane", {"edited": "yes"})
    before, _ = snapshots(pair, ns)
    for obj in before.values():  # the pause is undone by the move: compare with the unpaused objects
        annotations = obj["metadata"].get("annotations") or {}
        annotations.pop(PAUSED_BY_PIVOT, None)
        annotations.pop("cluster.x-k8s.io/paused", None)
        (obj.get("spec") or {}).pop("paused", None)
        obj["metadata"]["managedFields"] = [e for e in obj["metadata"].get("managedFields") or []
                                            if e["manager"] != "cluster-init-pivot"]

    report = move(pair, ns)

    assert report.repaired == 1 and report.created == 0
    assert_moved(pair, ns, before)


def test_interrupted_twice_then_resumed(pair: Pair) -> None:
    ns = fresh_namespace()
    generate(pair, two_clusters(ns))
    before, _ = snapshots(pair, ns)

    with pytest.raises(Interrupt):
        move(pair, ns, interrupt_at("create", "half"))
    with pytest.raises(Interrupt):
        move(pair, ns, interrupt_at("delete", "half"))
    dry = move(pair, ns, dry_run=True)
    assert set(dry.target_state.values()) == {"copied"}  # what is left in the source is all copied already
    move(pair, ns)

    assert_moved(pair, ns, before)


def test_killed_process_resumes(pair: Pair) -> None:
    """A real SIGKILL of the CLI in the middle of the create phase, then the same command again."""
    ns = fresh_namespace()
    generate(pair, two_clusters(ns) + graphs.cluster_objects("wl-c", ns, graphs.FLAVORS[2]))
    before, _ = snapshots(pair, ns)

    args = [sys.executable, "-m", "cluster_init", *map(str, pivot_args(pair, ns, "--max-in-flight", "2"))]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if line.startswith("pivot: create"):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    _, target_partial = snapshots(pair, ns)
    assert 0 < len(target_partial) < len(before)

    holder = lease_holder(pair)
    assert holder is not None and holder.split("/")[1] == str(proc.pid)  # the killed run's lock is left behind

    t0 = time.monotonic()
    code, _, err = cli(*pivot_args(pair, ns))  # and a run of this machine takes it over at once
    assert code == 0, err
    assert time.monotonic() - t0 < lock.DURATION  # it did not wait for the lease to expire
    assert_moved(pair, ns, before)
    assert lease_holder(pair) is None


def test_target_apiserver_stopped_mid_move_then_resumed(pair: Pair) -> None:
    ns = fresh_namespace()
    generate(pair, two_clusters(ns))
    before, _ = snapshots(pair, ns)
    stopped = False

    def stop_target(step: Step) -> None:
        nonlocal stopped
        if step.phase == "create" and step.done == step.total // 2 and not stopped:
            stopped = True
            pair.target.kill("kube-apiserver")

    try:
        with pytest.raises(ApiError) as failure:
            move(pair, ns, stop_target, retry_deadline=3.0)
        assert failure.value.status == 0 and "cannot reach" in str(failure.value)
    finally:
        if stopped:
            pair.target.start("kube-apiserver")
    move(pair, ns)

    assert_moved(pair, ns, before)


def test_target_apiserver_restart_is_ridden_out(pair: Pair) -> None:
    """The target API server goes away for a moment in the middle of the create phase: retries carry the move."""
    ns = fresh_namespace()
    generate(pair, two_clusters(ns))
    before, _ = snapshots(pair, ns)
    restarter: list[threading.Thread] = []

    def bounce_target(step: Step) -> None:
        if step.phase == "create" and step.done == step.total // 3 and not restarter:
            pair.target.kill("kube-apiserver")
            restarter.append(threading.Thread(target=pair.target.start, args=("kube-apiserver",)))
            restarter[0].start()

    report = move(pair, ns, bounce_target)
    restarter[0].join()

    assert report.created == len(before)
    assert_moved(pair, ns, before)


# -- preconditions ------------------------------------------------------------------------------------------


def lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error: ")]


def assert_untouched(pair: Pair, ns: str, before: Snap) -> None:
    source_after, target_after = snapshots(pair, ns)
    assert not target_after
    for key, obj in source_after.items():
        annotations = obj["metadata"].get("annotations") or {}
        assert PAUSED_BY_PIVOT not in annotations, key
        assert not (obj.get("spec") or {}).get("paused"), key
    assert set(source_after) == set(before)


def test_refuses_a_cluster_not_provisioned(pair: Pair) -> None:
    ns = fresh_namespace()
    generate(pair, one_cluster(ns, provisioned=False))
    before, _ = snapshots(pair, ns)

    code, _, err = cli(*pivot_args(pair, ns))

    assert code == 2
    errors = lines(err)
    assert errors[0] == (f"error: Cluster {ns}/wl-a: status.initialization.infrastructureProvisioned: the "
                         "infrastructure is still being provisioned; wait until Cluster API finished provisioning it "
                         "(or delete it), then run the pivot again")
    assert any(f"Machine {ns}/wl-a-control-plane-" in e and "status.nodeRef" in e for e in errors)
    assert_untouched(pair, ns, before)


def patch_status(pair: Pair, kind: str, ns: str, name: str, patch: JSON) -> None:
    async def go() -> None:
        src, dst = pair.clients()
        async with src, dst:
            res = await src.resource(graphs.CAPI, kind)
            await src.patch(res, name, ns, patch, subresource="status")

    run(go())


def test_readiness_is_judged_by_the_v1beta2_status(pair: Pair) -> None:
    """Cluster API v1.14 judges a Cluster by its v1beta2 status: with a control plane, the Cluster needs
    status.initialization.controlPlaneInitialized (v1beta1's controlPlaneReady, and the conditions kept under
    status.deprecated.v1beta1, no longer count). False: refused; true: it moves."""
    ns = fresh_namespace()
    generate(pair, one_cluster(ns))
    patch_status(pair, "Cluster", ns, "wl-a", {"status": {"initialization": {"controlPlaneInitialized": False}}})
    before, _ = snapshots(pair, ns)
    status = before[("Cluster", ns, "wl-a")]["status"]
    assert status["initialization"] == {"infrastructureProvisioned": True, "controlPlaneInitialized": False}
    assert any(c["type"] == "ControlPlaneInitialized" and c["status"] == "True" for c in status["conditions"])
    assert any(c["type"] == "ControlPlaneReady" and c["status"] == "True"
               for c in status["deprecated"]["v1beta1"]["conditions"])

    code, _, err = cli(*pivot_args(pair, ns))

    assert code == 2
    assert lines(err) == [f"error: Cluster {ns}/wl-a: status.initialization.controlPlaneInitialized: the control "
                          "plane is not initialized yet; wait until Cluster API finished provisioning it (or delete "
                          "it), then run the pivot again"]
    assert_untouched(pair, ns, before)

    patch_status(pair, "Cluster", ns, "wl-a", {"status": {"initialization": {"controlPlaneInitialized": True}}})
    before, _ = snapshots(pair, ns)
    code, _, err = cli(*pivot_args(pair, ns))

    assert code == 0, err
    assert_moved(pair, ns, before)


def test_refuses_a_cluster_paused_by_someone_else(pair: Pair) -> None:
    """As `clusterctl move` v1.14: a Cluster paused before the move (spec.paused, or the paused annotation) is not
    moved, since the move would unpause it at the end; nothing is changed."""
    ns = fresh_namespace()
    generate(pair, one_cluster(ns))

    async def pause() -> None:
        src, dst = pair.clients()
        async with src, dst:
            res = await src.resource(graphs.CAPI, "Cluster")
            await src.patch(res, "wl-a", ns, {"spec": {"paused": True}})

    run(pause())
    before, _ = snapshots(pair, ns)

    code, _, err = cli(*pivot_args(pair, ns))

    assert code == 2
    assert lines(err) == [f"error: Cluster {ns}/wl-a: spec.paused: is paused, and not by this move; unpause it (or "
                          "wait for whoever paused it to finish), then run the pivot again"]
    after, copies = snapshots(pair, ns)
    assert not copies
    assert {k: o["metadata"]["resourceVersion"] for k, o in after.items()} == \
           {k: o["metadata"]["resourceVersion"] for k, o in before.items()}


TWIN_GROUP = "infrastructure.twin.cluster-init.test"


def install_source_only_provider(pair: Pair) -> None:
    """A provider installed in the source only: a TwinCluster infrastructure kind (test CRD, labelled as its
    install would label it)."""
    crd: JSON = {
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": f"twinclusters.{TWIN_GROUP}",
                     "labels": {"clusterctl.cluster.x-k8s.io": "", "cluster.x-k8s.io/provider": "infrastructure-twin"}},
        "spec": {"group": TWIN_GROUP, "scope": "Namespaced",
                 "names": {"kind": "TwinCluster", "listKind": "TwinClusterList", "plural": "twinclusters",
                           "singular": "twincluster"},
                 "versions": [{"name": "v1beta1", "served": True, "storage": True, "subresources": {"status": {}},
                               "schema": {"openAPIV3Schema": {"type": "object",
                                                              "x-kubernetes-preserve-unknown-fields": True}}}]}}
    crd_res = Resource("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False,
                       True)

    async def go() -> None:
        src, dst = pair.clients()
        async with src, dst:
            try:
                await src.create(crd_res, crd)
            except ApiError as e:
                if not e.already_exists:
                    raise
            deadline = time.monotonic() + 30
            while True:  # poll, with a deadline, until the CRD is served
                try:
                    await src.resource(f"{TWIN_GROUP}/v1beta1", "TwinCluster")
                    return
                except ApiError:
                    src.forget(f"{TWIN_GROUP}/v1beta1")
                    assert time.monotonic() < deadline, "TwinCluster CRD not served"
                    await asyncio.sleep(0.2)

    run(go())


def test_refuses_when_the_target_lacks_a_provider(pair: Pair) -> None:
    install_source_only_provider(pair)
    ns = fresh_namespace()
    objects = one_cluster(ns)
    objects.append(graphs.Obj(f"{TWIN_GROUP}/v1beta1", "TwinCluster", "wl-a", ns,
                              {"metadata": {"name": "wl-a", "namespace": ns}, "spec": {"region": "twin-1"}},
                              {"ready": True}, [("Cluster", "wl-a", True)]))
    generate(pair, objects)
    before, _ = snapshots(pair, ns)

    code, _, err = cli(*pivot_args(pair, ns))

    assert code == 2
    assert lines(err) == [f"error: target {run(_server(pair))}: TwinCluster.{TWIN_GROUP}: has no "
                          "CustomResourceDefinition for TwinCluster (provider infrastructure-twin), which the move "
                          "needs; install that provider in the target (as in the source), then run the pivot again"]
    assert_untouched(pair, ns, before)


async def _server(pair: Pair) -> str:
    _, dst = pair.clients()
    return dst.server


def annotate(pair: Pair, api_version: str, kind: str, ns: str, name: str, annotations: dict[str, str | None]) -> None:
    async def go() -> None:
        src, dst = pair.clients()
        async with src, dst:
            res = await src.resource(api_version, kind)
            await src.patch(res, name, ns, {"metadata": {"annotations": annotations}})

    run(go())


def test_refuses_a_block_move_annotation_that_stays(pair: Pair) -> None:
    ns = fresh_namespace()
    generate(pair, one_cluster(ns))
    annotate(pair, graphs.INFRA, "DockerCluster", ns, "wl-a", {BLOCK_MOVE: ""})
    before, _ = snapshots(pair, ns)
    code, out, _ = cli(*pivot_args(pair, ns, "--dry-run"))
    assert code == 0 and f"would wait (after pausing) until DockerCluster {ns}/wl-a loses its block-move" in out

    t0 = time.monotonic()
    code, _, err = cli(*pivot_args(pair, ns, "--block-move-timeout", "2"))

    assert code == 2
    assert lines(err) == [f"error: DockerCluster {ns}/wl-a: metadata.annotations[{BLOCK_MOVE}]: still blocks the "
                          "move after 2s; the provider that set it is not ready to move: check its controller (or "
                          "remove the annotation if nothing will), then run the pivot again"]
    assert time.monotonic() - t0 < 30
    assert_untouched(pair, ns, before)  # paused while waiting, unpaused again: nothing was copied


def test_waits_for_a_block_move_annotation_to_go(pair: Pair) -> None:
    ns = fresh_namespace()
    generate(pair, one_cluster(ns))
    annotate(pair, graphs.INFRA, "DockerCluster", ns, "wl-a", {BLOCK_MOVE: ""})
    before, _ = snapshots(pair, ns)
    unblocked = before[("DockerCluster", ns, "wl-a")]["metadata"]
    unblocked["annotations"].pop(BLOCK_MOVE)  # as it will be when the provider removed it (and its field manager)
    unblocked["managedFields"] = [e for e in unblocked["managedFields"]
                                  if not (e["manager"] == "cluster-init" and not e.get("subresource"))]
    tasks: list[asyncio.Task[None]] = []
    waited: list[Step] = []

    async def unblock() -> None:  # the provider finishing its work, once the cluster is paused
        await asyncio.to_thread(annotate, pair, graphs.INFRA, "DockerCluster", ns, "wl-a", {BLOCK_MOVE: None})

    def observer(step: Step) -> None:
        if step.phase == "pause" and step.done == step.total and not tasks:
            tasks.append(asyncio.get_running_loop().create_task(unblock()))
        if step.phase == "unblock":
            waited.append(step)

    report = move(pair, ns, observer, block_move_timeout=60)

    assert waited and waited[-1].done == waited[-1].total == 1
    assert report.created == len(before)
    assert_moved(pair, ns, before)


def test_a_controller_putting_its_finalizer_back_does_not_hold_the_source(pair: Pair) -> None:
    """Cluster API's controllers add their finalizer whenever it is missing and the object is not being deleted,
    paused or not. Here one does so right after each of the move's writes to an object (the worst interleaving,
    every time): the move still deletes every source object, because it strips finalizers only once the deletion
    has begun, when the API server refuses new ones."""
    ns = fresh_namespace()
    generate(pair, one_cluster(ns))
    before, _ = snapshots(pair, ns)

    async def go() -> Report:
        src, dst = pair.clients(retry_deadline=60.0)
        patch = src.patch

        async def patch_then_controller(res: Resource, name: str, namespace: str | None, body: Any,
                                        **kwargs: Any) -> Any:
            written = await patch(res, name, namespace, body, **kwargs)
            meta = written.get("metadata") or {}
            finalizer = f"{res.kind.lower()}.{res.api_version.split('/')[0]}"
            if res.kind in ("DockerMachine", "Machine") and not meta.get("deletionTimestamp") \
                    and finalizer not in (meta.get("finalizers") or []):
                await patch(res, name, namespace, {"metadata": {"finalizers": [finalizer]}})
            return written

        src.patch = patch_then_controller  # type: ignore[method-assign,assignment]
        async with src, dst:
            return await Engine(src, dst, Options(namespace=ns, poll_interval=0.2)).move()

    report = run(go())
    assert report.deleted == len(before)
    assert_moved(pair, ns, before)


def test_refuses_an_object_being_deleted(pair: Pair) -> None:
    ns = fresh_namespace()
    generate(pair, one_cluster(ns))
    machine = next(k[2] for k in snapshots(pair, ns)[0] if k[0] == "Machine")

    async def delete_machine() -> None:
        src, dst = pair.clients()
        async with src, dst:
            res = await src.resource(graphs.CAPI, "Machine")
            await src.delete(res, machine, ns)  # its finalizer holds it: deletionTimestamp set

    run(delete_machine())
    before, _ = snapshots(pair, ns)

    code, _, err = cli(*pivot_args(pair, ns))

    assert code == 2
    assert lines(err) == [f"error: Machine {ns}/{machine}: metadata.deletionTimestamp: is being deleted; wait until "
                          "the deletion finished (or cancel it), then run the pivot again"]
    assert_untouched(pair, ns, before)


def test_refuses_to_overwrite_a_foreign_object_in_the_target(pair: Pair) -> None:
    ns = fresh_namespace()
    generate(pair, one_cluster(ns))

    async def squat() -> None:
        src, dst = pair.clients()
        async with src, dst:
            await graphs.ensure_namespaces(dst, [ns])
            res = await dst.resource("v1", "Secret")
            await dst.create(res, {"metadata": {"name": "wl-a-kubeconfig"}, "data": {"value": "c3F1YXR0ZXI="}}, ns)

    run(squat())
    code, _, err = cli(*pivot_args(pair, ns))

    assert code == 2
    assert len(lines(err)) == 1 and f"Secret {ns}/wl-a-kubeconfig: already exists there" in err
    source_after, _ = snapshots(pair, ns)
    assert not any(PAUSED_BY_PIVOT in (o["metadata"].get("annotations") or {}) for o in source_after.values())


# -- one pivot at a time -------------------------------------------------------------------------------------


def lease_holder(pair: Pair) -> str | None:
    async def go() -> str | None:
        src, dst = pair.clients()
        async with src, dst:
            res = await src.resource("coordination.k8s.io/v1", "Lease")
            try:
                lease = await src.get(res, lock.NAME, lock.NAMESPACE)
            except ApiError as e:
                if e.not_found:
                    return None
                raise
            return str(lease["spec"]["holderIdentity"])

    return run(go())


def hold_lease(pair: Pair, holder: str, seconds: int, renewing: threading.Event | None = None) -> None:
    """Create the pivot lease as another pivot would; while `renewing` is set, renew it every 0.2 s."""
    async def go() -> None:
        src, dst = pair.clients()
        async with src, dst:
            res = await src.resource("coordination.k8s.io/v1", "Lease")
            spec = {"holderIdentity": holder, "leaseDurationSeconds": seconds}
            lease = await src.create(res, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                           "metadata": {"name": lock.NAME, "namespace": lock.NAMESPACE},
                                           "spec": spec}, lock.NAMESPACE)
            while renewing is not None and renewing.is_set():
                await asyncio.sleep(0.2)
                lease["spec"]["leaseTransitions"] = lease["spec"].get("leaseTransitions", 0) + 1
                lease = await src.update(res, lease)
            if renewing is not None:
                await src.delete(res, lock.NAME, lock.NAMESPACE)

    run(go())


def test_a_second_pivot_changes_nothing_while_another_runs(pair: Pair) -> None:
    ns = fresh_namespace()
    generate(pair, two_clusters(ns))
    before, _ = snapshots(pair, ns)
    renewing = threading.Event()
    renewing.set()
    other = threading.Thread(target=hold_lease, args=(pair, "elsewhere/4242/abcd", 30, renewing))
    other.start()
    try:
        deadline = time.monotonic() + 30
        while lease_holder(pair) is None and time.monotonic() < deadline:
            time.sleep(0.05)

        code, _, err = cli(*pivot_args(pair, ns))
    finally:
        renewing.clear()
        other.join()

    assert code == 1
    assert "another pivot is running (elsewhere/4242/abcd holds the lease kube-system/cluster-init-pivot" in err
    after, copies = snapshots(pair, ns)
    assert {k: o["metadata"]["resourceVersion"] for k, o in after.items()} == \
           {k: o["metadata"]["resourceVersion"] for k, o in before.items()} and not copies


def test_a_lock_nobody_renews_is_taken_over(pair: Pair) -> None:
    ns = fresh_namespace()
    generate(pair, two_clusters(ns))
    before, _ = snapshots(pair, ns)
    hold_lease(pair, "elsewhere/4242/abcd", 1)  # a pivot of another machine that died

    code, _, err = cli(*pivot_args(pair, ns))

    assert code == 0, err
    assert_moved(pair, ns, before)
    assert lease_holder(pair) is None


def test_a_pivot_whose_lock_is_taken_over_stops(pair: Pair) -> None:
    """The lease is taken over while the body runs: the body is stopped at the next renewal, with Lost."""
    async def go() -> float:
        (src, dst), (other, _) = pair.clients(), pair.clients()  # `other`: a second client of the source
        async with src, dst, other:
            res = await other.resource("coordination.k8s.io/v1", "Lease")
            t0 = time.monotonic()
            try:
                with pytest.raises(lock.Lost, match="is now held by elsewhere/4242"):
                    async with lock.held(src.config):
                        lease = await other.get(res, lock.NAME, lock.NAMESPACE)
                        lease["spec"]["holderIdentity"] = "elsewhere/4242/abcd"
                        await other.update(res, lease)
                        await asyncio.sleep(10 * lock.RENEW_EVERY)  # work that the lost lock must cut short
                return time.monotonic() - t0
            finally:
                await other.delete(res, lock.NAME, lock.NAMESPACE)

    assert run(go()) < 3 * lock.RENEW_EVERY
    assert lease_holder(pair) is None


# -- backup and restore ---------------------------------------------------------------------------------------


def test_backup_then_restore(pair: Pair, tmp_path: Path) -> None:
    ns = fresh_namespace()
    objects = two_clusters(ns)
    generate(pair, objects)
    before, _ = snapshots(pair, ns)
    directory = tmp_path / "backup"

    code, _, err = cli("pivot", "--from-kubeconfig", pair.source_kubeconfig, "--namespace", ns,
                       "--to-directory", directory)

    assert code == 0, err
    files = sorted(directory.glob("*.yaml"))
    assert len(files) == len(objects)
    assert all(f.stat().st_mode & 0o777 == 0o600 for f in files) and directory.stat().st_mode & 0o777 == 0o700
    source_after, _ = snapshots(pair, ns)
    assert not check_moved(before, {}, source_after, kept_in_source=before, statuses=True)  # as it was, unpaused

    restore: list[str | Path] = ["pivot", "--from-directory", directory, "--to-kubeconfig", pair.target_kubeconfig]
    code, out, err = cli(*restore, "--dry-run")
    assert code == 0 and out.count(": create\n") == len(objects), err
    code, out, err = cli(*restore)

    assert code == 0, err
    assert f"restored {len(objects)} objects of 2 clusters" in out
    source_after, target_after = snapshots(pair, ns)
    assert not check_moved(before, source_after, target_after, kept_in_source=before)

    code, out, err = cli(*restore)  # again: everything is there already, nothing duplicated
    assert code == 0 and f"0 created, {len(objects)} already there" in out, err


def test_interrupted_restore_resumes(pair: Pair, tmp_path: Path) -> None:
    ns = fresh_namespace()
    generate(pair, two_clusters(ns))
    before, _ = snapshots(pair, ns)
    directory = tmp_path / "backup"
    code, _, err = cli("pivot", "--from-kubeconfig", pair.source_kubeconfig, "--namespace", ns,
                       "--to-directory", directory)
    assert code == 0, err
    from cluster_init.pivot import backup

    objects, problems = backup.read(directory)
    assert not problems

    async def restore(observer: Callable[[Step], None] | None) -> Report:
        src, dst = pair.clients()
        async with src, dst:
            return await Engine(None, dst, Options(), observer, objects=objects).restore()

    with pytest.raises(Interrupt):
        run(restore(interrupt_at("create", "half")))
    report = run(restore(None))

    assert 0 < report.created < len(objects) and report.created + report.resumed == len(objects)
    source_after, target_after = snapshots(pair, ns)
    assert not check_moved(before, source_after, target_after, kept_in_source=before)


# -- secrets --------------------------------------------------------------------------------------------------


def test_secret_values_are_never_printed(pair: Pair) -> None:
    ns = fresh_namespace()
    objects = two_clusters(ns)
    generate(pair, objects)
    values = [v for o in objects if o.kind == "Secret" for v in o.body["data"].values()]
    outputs: list[str] = []
    for extra in (["--dry-run"], ["--dry-run", "-o", "json"]):
        outputs += cli(*pivot_args(pair, ns, *extra))[1:]

    async def squat() -> None:  # a failing Secret create, to see its error message too
        src, dst = pair.clients()
        async with src, dst:
            await graphs.ensure_namespaces(dst, [ns])
            res = await dst.resource("v1", "Secret")
            with pytest.raises(ApiError) as failure:
                await dst.create(res, {"metadata": {"name": "Not_Valid"}, "data": {"k": objects_value}}, ns)
            outputs.append(str(failure.value))

    objects_value = next(o.body["data"]["value"] for o in objects if o.kind == "Secret" and "value" in o.body["data"])
    run(squat())
    outputs += cli(*pivot_args(pair, ns, "-o", "json"))[1:]

    text = "\n".join(outputs)
    assert "would move" in text and "Secret Not_Valid: Invalid (fields: metadata.name)" in text
    leaked = [v[:12] for v in values if v and v in text]
    assert not leaked, f"secret values printed: {leaked}"
