"""What the in-cluster pivot (the bundle's `pivot` unit, a Job in the bootstrap cluster) adds around a move.

- The target's kubeconfig is read from the Secret Cluster API writes (`<cluster>-kubeconfig`, key `value`),
  through the API rather than a volume: the move takes that Secret away, and a pod started after that (a
  retry) could not mount it. Once it has moved, the backup below still holds it.
- A backup of the snapshot the move copies, as a Secret in the source namespace, written before the first
  write to the target, so it exists before anything is deleted. It is the `--to-directory` backup as a
  gzipped tar (`backup.tar.gz`): extract it and restore it with `--from-directory`. A run that resumes a
  started move keeps the backup of the run that started it (the source is partly deleted by then).
- The source's Flux Kustomization of the cluster definitions is suspended before the copy, so the bootstrap
  cluster's Flux does not create again what moved away; so are the Kustomizations that reach the target
  through its kubeconfig Secret, which the move takes away (their next reconciliation could only fail).
- After a successful move, a ConfigMap in the target that the management cluster's release of the chart
  reads as values (`pivoted: true`): its cluster definitions unit then takes the moved objects over.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import os
import tarfile
import tempfile
from collections.abc import Mapping
from pathlib import Path

import yaml

from cluster_init.errors import Problem
from cluster_init.kube import ApiError, Client, KubeConfig, KubeconfigError, Resource
from cluster_init.pivot import backup
from cluster_init.pivot.engine import PHASES, Refused, Step
from cluster_init.pivot.graph import Plan
from cluster_init.unitstate import PIVOT_PHASE

SECRET = Resource("v1", "Secret", "secrets", True, False)
CONFIGMAP = Resource("v1", "ConfigMap", "configmaps", True, False)
KUSTOMIZATION = Resource("kustomize.toolkit.fluxcd.io/v1", "Kustomization", "kustomizations", True, True)
HELMRELEASE = Resource("helm.toolkit.fluxcd.io/v2", "HelmRelease", "helmreleases", True, True)
JOB = Resource("batch/v1", "Job", "jobs", True, True)
ARCHIVE_KEY = "backup.tar.gz"
JOB_BACKUP_SECRET = "cluster-init-pivot-backup"  # the pivot unit's Job writes its backup there
BACKUP_LABEL = "cluster-init/pivot-backup"
SECRET_LIMIT = 1024 * 1024  # bytes of data a Secret may hold (the API server refuses more)
FIELD_MANAGER = "cluster-init-pivot"
KUBECONFIG_KEY = "value"


def archive(plan: Plan) -> tuple[bytes, int]:
    """The `--to-directory` backup of `plan` as a gzipped tar (files 0600), and its number of objects."""
    with tempfile.TemporaryDirectory(prefix="cluster-init-backup-") as tmp:
        folder = Path(tmp) / "backup"
        count = backup.write(plan, folder)
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
            for path in sorted(folder.iterdir()):
                info = tar.gettarinfo(str(path), arcname=path.name)
                info.uid = info.gid = 0
                info.uname = info.gname = ""
                info.mtime = 0
                with path.open("rb") as f:
                    tar.addfile(info, f)
    return buffer.getvalue(), count


def extract(blob: bytes, directory: Path) -> int:
    """Unpack a backup archive into `directory` (made 0700) for `--from-directory`; the number of files."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    count = 0
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member) if member.isfile() and "/" not in member.name else None
            if f is None or member.name in ("", ".", ".."):
                continue  # only plain files at the top: a backup holds nothing else
            fd = os.open(directory / member.name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(f.read())
            count += 1
    return count


def _member(blob: bytes, name: str) -> bytes | None:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        try:
            f = tar.extractfile(name)
        except KeyError:
            return None
        return f.read() if f is not None else None


def _data(secret: Mapping[str, object], key: str) -> bytes | None:
    data = secret.get("data")
    value = data.get(key) if isinstance(data, dict) else None
    return base64.b64decode(value) if isinstance(value, str) else None


async def backup_blob(client: Client, namespace: str, name: str) -> bytes | None:
    """The archive of the backup Secret `name`, or None when there is none."""
    secret = await client.find(SECRET, name, namespace)
    return _data(secret, ARCHIVE_KEY) if secret is not None else None


async def store_backup(client: Client, plan: Plan, state: Mapping[str, str], namespace: str, name: str) -> str:
    """Write the backup Secret (before the move copies anything), unless a resumed move finds the one it wrote at
    its start; what was done, for the progress line. Refused, before anything changed, when the archive is more
    than a Secret holds."""
    existing = await client.find(SECRET, name, namespace)
    if existing is not None and (not plan.nodes or any(s == "copied" for s in state.values())):
        # A resumed move: what it has copied (or, once the source is empty, everything) is in the first backup.
        return f"kept the backup in Secret {namespace}/{name} (written when this move started)"
    blob, count = archive(plan)
    if len(blob) > SECRET_LIMIT:
        raise Refused([Problem(f"--backup-secret {name}", "", f"the backup of {count} objects is {len(blob)} bytes "
                               f"compressed, more than a Secret holds ({SECRET_LIMIT} bytes); nothing was moved",
                               "back up with --to-directory instead, then move without --backup-secret")])
    body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {BACKUP_LABEL: "", "app.kubernetes.io/part-of": "cluster-init"},
                         "annotations": {f"{BACKUP_LABEL}-objects": str(count)}},
            "data": {ARCHIVE_KEY: base64.b64encode(blob).decode()}}
    if existing is None:
        await client.create(SECRET, body, namespace, field_manager=FIELD_MANAGER)
    else:
        body["metadata"]["resourceVersion"] = existing["metadata"]["resourceVersion"]  # type: ignore[index]
        await client.update(SECRET, body, field_manager=FIELD_MANAGER)
    return f"backed up {count} objects to Secret {namespace}/{name} ({len(blob)} bytes)"


async def target_kubeconfig(source: Client, namespace: str, name: str, backup_name: str | None) -> bytes:
    """The kubeconfig in Secret `name` (key `value`) of the source; once the move took it, from the backup."""
    secret = await source.find(SECRET, name, namespace)
    if secret is not None and (value := _data(secret, KUBECONFIG_KEY)):
        return value
    blob = await backup_blob(source, namespace, backup_name) if backup_name else None
    member = _member(blob, backup.filename({"apiVersion": "v1", "kind": "Secret",
                                            "metadata": {"namespace": namespace, "name": name}})) if blob else None
    if member is not None:
        value = _data(yaml.safe_load(member) or {}, KUBECONFIG_KEY)
        if value:
            return value
    raise KubeconfigError(f"Secret {namespace}/{name}: not found with a `{KUBECONFIG_KEY}` key in the source cluster"
                          + (f" nor in the backup Secret {backup_name}" if backup_name else ""))


def load_kubeconfig(text: bytes, where: str) -> KubeConfig:
    """A KubeConfig from kubeconfig text (through a private temporary file: the loader reads files)."""
    with tempfile.TemporaryDirectory(prefix="cluster-init-kubeconfig-") as tmp:
        path = Path(tmp) / "kubeconfig"
        path.touch(mode=0o600)
        path.write_bytes(text)
        try:
            config = KubeConfig.load(path)
        except KubeconfigError as e:
            raise KubeconfigError(str(e).replace(str(path), where)) from None
    return config


async def suspend(client: Client, res: Resource, namespace: str, name: str) -> bool:
    """Suspend the Flux object `name` of kind `res` (False when there is none, or Flux is not installed)."""
    try:
        await client.patch(res, name, namespace, {"spec": {"suspend": True}}, field_manager=FIELD_MANAGER)
    except ApiError as e:
        if e.not_found:
            return False
        raise
    return True


async def suspend_flux_objects_through(client: Client, namespace: str, secret: str) -> list[str]:
    """Suspend the Flux Kustomizations and HelmReleases of `namespace` that reach another cluster through the
    kubeconfig Secret `secret`: the move takes it away, and each of their later reconciliations would fail (a
    suspended HelmRelease is not uninstalled either, should it be deleted). Their `Kind/name`s suspended now
    (none when Flux is not installed)."""
    names = []
    for res in (KUSTOMIZATION, HELMRELEASE):
        try:
            found = await client.list(res, namespace)
        except ApiError as e:
            if e.not_found:
                continue
            raise
        for obj in found:
            spec = obj.get("spec") or {}
            if not spec.get("suspend") and ((spec.get("kubeConfig") or {}).get("secretRef") or {}).get(
                    "name") == secret and await suspend(client, res, namespace, obj["metadata"]["name"]):
                names.append(f"{res.kind}/{obj['metadata']['name']}")
    return names


async def mark_pivoted(client: Client, namespace: str, name: str) -> None:
    """The ConfigMap the management cluster's release reads as values: `pivoted: true`. Labelled so that Flux's
    helm-controller reconciles the release as soon as it changes, not at its next interval."""
    body = {"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace,
                         "labels": {"app.kubernetes.io/part-of": "cluster-init",
                                    "reconcile.fluxcd.io/watch": "Enabled"}},
            "data": {"values": "pivoted: true\n"}}
    await client.request("PATCH", CONFIGMAP.path(namespace, name), body=body,
                         params={"fieldManager": FIELD_MANAGER, "force": "true"},
                         content_type="application/apply-patch+yaml")


class JobPhases:
    """An engine observer that writes the move's current phase on the pivot Job (annotation PIVOT_PHASE), so
    that `watch` shows the phase under the pivot unit. Writes run in the background, one at a time, latest phase
    wins; a failed write is dropped (the move matters, not its report)."""

    def __init__(self, client: Client, namespace: str, name: str) -> None:
        self.client, self.namespace, self.name = client, namespace, name
        self.latest = self.sent = ""
        self.task: asyncio.Task[None] | None = None

    def __call__(self, step: Step) -> None:
        self.say(step.phase)

    def say(self, phase: str) -> None:
        """Report `phase` (an engine phase, or one of the Job's own: backup, mark pivoted, done)."""
        if phase == self.latest:
            return
        self.latest = phase
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._send())

    async def _send(self) -> None:
        while self.sent != self.latest:
            phase = self.latest
            of = f" ({PHASES.index(phase) + 1}/{len(PHASES)})" if phase in PHASES else ""
            with contextlib.suppress(ApiError):
                await self.client.patch(JOB, self.name, self.namespace,
                                        {"metadata": {"annotations": {PIVOT_PHASE: phase + of}}},
                                        field_manager=FIELD_MANAGER)
            self.sent = phase

    async def flush(self) -> None:
        if self.task is not None:
            await self.task
