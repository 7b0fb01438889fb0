"""T1: the pivot as the bundle's Job runs it (`--to-kubeconfig-secret`, `--backup-secret`, `--mark-pivoted`),
between two real API servers.

The target's kubeconfig lives in the Secret `<cluster>-kubeconfig` that the move itself takes away, so a run
resumed after that reads it from the backup. The backup is written before the first copy, kept by a resumed
run, and restores with `--from-directory`; the mark is written only once the move has finished.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_init import unitstate
from cluster_init.kube import ApiError, Client
from cluster_init.kube.discovery import Resource
from cluster_init.kube.status import condition
from cluster_init.pivot import Engine, Options, Refused, job
from cluster_init.pivot.discovery import DEPLOYMENT
from cluster_init.pivot.graph import NAMESPACE
from tests.t1 import capi_graphs as graphs
from tests.t1 import test_certificate_race as race
from tests.t1.pivot_fixtures import (
    MOVED_KINDS,
    Pair,
    check_moved,
    labelled_crd_files,
    run,
    snapshot,
    start_pair,
    stop_pair,
)
from tests.t1.test_pivot import cli, generate

pytestmark = pytest.mark.t1

JSON = dict[str, Any]
BACKUP, MARK = "pivot-backup", "cluster-init-pivoted"
CERTIFICATE = Resource("cert-manager.io/v1", "Certificate", "certificates", namespaced=True, has_status=True)


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    started = start_pair("pivot-job", labelled_crd_files(tmp_path_factory.mktemp("pivot-job-crds")))
    try:
        yield started
    finally:
        stop_pair(started)


def objects_with_real_kubeconfig(pair: Pair, ns: str) -> list[graphs.Obj]:
    """Two clusters; the first one's kubeconfig Secret holds the target's kubeconfig, as Cluster API's would."""
    objects = (graphs.cluster_objects("wl-a", ns, graphs.FLAVORS[0]) +
               graphs.cluster_objects("wl-b", ns, graphs.FLAVORS[3], control_planes=1, workers=1) +
               graphs.namespace_objects(ns, ["wl-a", "wl-b"]))
    secret = next(o for o in objects if o.kind == "Secret" and o.body["metadata"]["name"] == "wl-a-kubeconfig")
    secret.body["data"]["value"] = base64.b64encode(pair.target_kubeconfig.read_bytes()).decode()
    return objects


def job_args(pair: Pair, ns: str) -> list[str]:
    return ["pivot", "--from-kubeconfig", str(pair.source_kubeconfig), "-n", ns,
            "--to-kubeconfig-secret", "wl-a-kubeconfig", "--backup-secret", BACKUP, "--mark-pivoted", MARK]


def read(pair: Pair, side: str, kind: str, ns: str, name: str) -> JSON | None:
    async def go() -> JSON | None:
        src, dst = pair.clients()
        async with src, dst:
            client = src if side == "source" else dst
            try:
                kinds = {"Secret": job.SECRET, "ConfigMap": job.CONFIGMAP, "Job": job.JOB, "Certificate": CERTIFICATE}
                return await client.get(kinds[kind], name, ns)
            except ApiError as e:
                if e.not_found:
                    return None
                raise

    return run(go())


def delete_source_secret(pair: Pair, ns: str, name: str) -> None:
    async def go() -> None:
        src, dst = pair.clients()
        async with src, dst:
            await src.delete(job.SECRET, name, ns)

    run(go())


def moved_snapshot(client: Client, ns: str) -> Any:
    return snapshot(client, [ns], MOVED_KINDS)


def snapshots(pair: Pair, ns: str) -> tuple[dict[Any, JSON], dict[Any, JSON]]:
    async def go() -> tuple[dict[Any, JSON], dict[Any, JSON]]:
        src, dst = pair.clients()
        async with src, dst:
            return await moved_snapshot(src, ns), await moved_snapshot(dst, ns)

    source, target = run(go())
    source.pop(("Secret", ns, BACKUP), None)  # the backup and the mark are no objects of the move
    target.pop(("ConfigMap", ns, MARK), None)
    return source, target


def kill_at_delete(args: list[str]) -> list[str]:
    """Run the CLI and SIGKILL it when the delete phase starts; the progress lines it printed until then."""
    proc = subprocess.Popen([sys.executable, "-m", "cluster_init", *args, "--max-in-flight", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith("pivot: delete"):
            os.kill(proc.pid, signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    return seen


def test_backup_first_resume_from_the_backup_mark_last_then_restore(pair: Pair, tmp_path: Path) -> None:
    ns = f"pj-{uuid.uuid4().hex[:8]}"
    objects = objects_with_real_kubeconfig(pair, ns)
    generate(pair, objects)
    before, _ = snapshots(pair, ns)

    seen = kill_at_delete(job_args(pair, ns))
    backed_up = next(i for i, line in enumerate(seen) if "backed up" in line)
    assert backed_up < next(i for i, line in enumerate(seen) if line.startswith("pivot: create")), "".join(seen)
    backup_secret = read(pair, "source", "Secret", ns, BACKUP)
    assert backup_secret is not None
    assert backup_secret["metadata"]["annotations"]["cluster-init/pivot-backup-objects"] == str(len(objects))
    assert read(pair, "target", "ConfigMap", ns, MARK) is None  # not pivoted: the move did not finish
    # The move takes the kubeconfig Secret away (its turn in the delete phase may not have come yet): the
    # resumed run must find the target's kubeconfig in the backup.
    delete_source_secret(pair, ns, "wl-a-kubeconfig")

    code, _, err = cli(*job_args(pair, ns))

    assert code == 0, err
    assert "kept the backup" in err and "marked the target pivoted" in err
    mark = read(pair, "target", "ConfigMap", ns, MARK)
    assert mark is not None and yaml.safe_load(mark["data"]["values"]) == {"pivoted": True}
    assert mark["metadata"]["labels"]["reconcile.fluxcd.io/watch"] == "Enabled"
    source_after, target_after = snapshots(pair, ns)
    assert not check_moved(before, source_after, target_after)
    kept = read(pair, "source", "Secret", ns, BACKUP)
    assert kept is not None and kept["data"] == backup_secret["data"]  # the first run's backup, complete
    # Once more, with nothing left in the source (as a Job retried after its pod died past the move would run):
    # the backup stays the complete one, not one of nothing (the kubeconfig's only copy left here is in it).
    code, _, err = cli(*job_args(pair, ns))
    assert code == 0, err
    assert "kept the backup" in err
    assert read(pair, "source", "Secret", ns, BACKUP)["data"] == backup_secret["data"]  # type: ignore[index]

    # Restore, as the README says: the archive's files are a --to-directory backup.
    directory = tmp_path / "backup"
    assert job.extract(base64.b64decode(kept["data"][job.ARCHIVE_KEY]), directory) == len(objects) + 1  # + marker
    code, out, err = cli("pivot", "--from-directory", directory, "--to-kubeconfig", pair.source_kubeconfig)
    assert code == 0, err
    assert f"restored {len(objects)} objects of 2 clusters" in out
    restored, _ = snapshots(pair, ns)
    assert not check_moved(before, {}, restored)


def test_a_backup_too_large_for_a_secret_refuses_before_any_change(pair: Pair,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    ns = f"pj-{uuid.uuid4().hex[:8]}"
    generate(pair, objects_with_real_kubeconfig(pair, ns))
    before, _ = snapshots(pair, ns)
    monkeypatch.setattr(job, "SECRET_LIMIT", 1024)

    async def go() -> None:
        src, dst = pair.clients()
        async with src, dst:
            async def backup(plan: Any, state: Any) -> None:
                await job.store_backup(src, plan, state, ns, BACKUP)

            await Engine(src, dst, Options(namespace=ns, poll_interval=0.2)).move(backup)

    with pytest.raises(Refused) as refused:
        run(go())

    assert "more than a Secret holds" in str(refused.value) and "--to-directory" in str(refused.value)
    source_after, target_after = snapshots(pair, ns)
    assert not target_after and read(pair, "source", "Secret", ns, BACKUP) is None
    assert not check_moved(before, {}, source_after, kept_in_source=before, statuses=True)  # as it was, unpaused


def test_the_job_reports_each_phase_on_itself(pair: Pair) -> None:
    """With --report-job, the move's phase is written on the Job (where `watch` shows it), ending with `done`."""
    ns = f"pj-{uuid.uuid4().hex[:8]}"
    objects = objects_with_real_kubeconfig(pair, ns)
    generate(pair, objects)
    body = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pivot", "namespace": ns},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                           "containers": [{"name": "pivot", "image": "cluster-init:test"}]}}}}

    async def create() -> None:
        src, dst = pair.clients()
        async with src, dst:
            await src.create(job.JOB, body, ns)

    run(create())
    code, _, err = cli(*job_args(pair, ns), "--report-job", "pivot")
    assert code == 0, err
    reported = read(pair, "source", "Job", ns, "pivot")
    assert reported is not None
    assert reported["metadata"]["annotations"][unitstate.PIVOT_PHASE] == "done"


def provider_deployment(ns: str, provider: str, replicas: int) -> JSON:
    """A provider controller's Deployment as the bundle installs one: clusterctl's label and the provider's."""
    labels = {"app": provider}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": f"{provider}-controller-manager", "namespace": ns,
                         "labels": {"clusterctl.cluster.x-k8s.io": "", "cluster.x-k8s.io/provider": provider}},
            "spec": {"replicas": replicas, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "manager", "image": "manager:test"}]}}}}


def test_the_job_waits_for_the_targets_providers_before_it_changes_anything(pair: Pair) -> None:
    """--wait-for-providers: a provider that runs in the source and is not Available in the target (the twin has no
    kubelet: one replica never becomes available) holds the move, which fails at the deadline naming it, with
    nothing paused or copied; once the target's Deployment is available (scaled to 0 here), the move goes on.
    Meanwhile a target's Certificate that cert-manager backed off after its key race is issued again."""
    ns = f"pw-{uuid.uuid4().hex[:8]}"
    provider = f"infrastructure-twin{uuid.uuid4().hex[:4]}"
    generate(pair, objects_with_real_kubeconfig(pair, ns))
    deployments = DEPLOYMENT

    async def install(target_replicas: int) -> None:
        src, dst = pair.clients()
        async with src, dst:
            await src.create(deployments, provider_deployment(ns, provider, 0), ns)
            await dst.create(NAMESPACE, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
            await dst.create(deployments, provider_deployment(ns, provider, target_replicas), ns)
            raced = await dst.create(CERTIFICATE, race.certificate("serving-cert"), ns)
            await dst.update(CERTIFICATE, race.failed(raced), subresource="status")

    async def scale_and_cleanup(replicas: int | None) -> None:
        src, dst = pair.clients()
        async with src, dst:
            name = f"{provider}-controller-manager"
            if replicas is not None:
                await dst.patch(deployments, name, ns, {"spec": {"replicas": replicas}}, field_manager="test")
            else:
                for client in (src, dst):
                    await client.delete(deployments, name, ns)

    run(install(1))
    try:
        code, _, err = cli(*job_args(pair, ns), "--wait-for-providers", "3")
        assert code == 1, err
        assert f"pivot: waiting for the target's providers: {provider}" in err
        assert f"pivot not started: the target does not run providers {provider} after 3s" in err
        assert f"pivot: Certificate {ns}/serving-cert: cert-manager failed its issuance through its key race" in err
        issuing = condition(read(pair, "target", "Certificate", ns, "serving-cert") or {}, "Issuing") or {}
        assert (issuing.get("status"), issuing.get("reason")) == ("True", "ManuallyTriggered")
        source, target = snapshots(pair, ns)
        assert not any(k[0] == "Cluster" and v.get("spec", {}).get("paused") for k, v in source.items())
        assert not any(k[0] != "Namespace" for k in target), sorted(target)
        run(scale_and_cleanup(0))
        code, _, err = cli(*job_args(pair, ns), "--wait-for-providers", "60")
        assert code == 0, err
        assert read(pair, "target", "ConfigMap", ns, MARK) is not None
    finally:
        run(scale_and_cleanup(None))


def test_the_job_suspends_what_reaches_the_target_through_the_secret_it_moves(pair: Pair) -> None:
    """The Kustomizations and HelmReleases that use the target's kubeconfig Secret (the bundle's remote units, or a
    user's own release into the management cluster) could only fail once the move has taken it: the Job suspends
    them before the copy, and no other."""
    ns = f"ps-{uuid.uuid4().hex[:8]}"
    generate(pair, objects_with_real_kubeconfig(pair, ns))

    def flux_object(res: Resource, name: str, secret: str | None) -> JSON:
        spec: JSON = {"interval": "30m"}
        if res is job.KUSTOMIZATION:
            spec.update(prune=True, sourceRef={"kind": "OCIRepository", "name": "src"})
        else:
            spec["chart"] = {"spec": {"chart": "c", "sourceRef": {"kind": "HelmRepository", "name": "src"}}}
        if secret:
            spec["kubeConfig"] = {"secretRef": {"name": secret, "key": "value"}}
        return {"apiVersion": res.api_version, "kind": res.kind, "metadata": {"name": name, "namespace": ns},
                "spec": spec}

    async def create() -> None:
        src, dst = pair.clients()
        async with src, dst:
            for res in (job.KUSTOMIZATION, job.HELMRELEASE):
                for name, secret in (("remote", "wl-a-kubeconfig"), ("elsewhere", "wl-b-kubeconfig"),
                                     ("local", None)):
                    await src.create(res, flux_object(res, name, secret), ns)

    async def suspended() -> set[str]:
        src, dst = pair.clients()
        async with src, dst:
            return {f"{res.kind}/{o['metadata']['name']}" for res in (job.KUSTOMIZATION, job.HELMRELEASE)
                    for o in await src.list(res, ns) if o["spec"].get("suspend")}

    run(create())
    code, _, err = cli(*job_args(pair, ns))
    assert code == 0, err
    assert run(suspended()) == {"Kustomization/remote", "HelmRelease/remote"}
    assert (f"pivot: suspended Kustomization/remote, HelmRelease/remote (they reach the target through Secret "
            f"{ns}/wl-a-kubeconfig") in err
