"""Backup files: one YAML file per object to move, written and read back for a restore.

Files hold the objects as read from the source (status, UIDs and owner references included: a restore
rebuilds the graph from them and records the UIDs on the copies, which makes it resumable). They contain
Secrets: the directory is created 0700 and each file 0600, written atomically.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from cluster_init.errors import Problem
from cluster_init.pivot.graph import JSON, Plan

MARKER = ".cluster-init-pivot-backup"


def filename(obj: JSON) -> str:
    meta = obj["metadata"]
    group = obj["apiVersion"].rpartition("/")[0] or "core"
    return f"{group}_{obj['kind']}_{meta.get('namespace') or '-'}_{meta['name']}.yaml"


def check_directory(directory: Path) -> list[Problem]:
    """A backup goes to a new or empty directory, or one an earlier (maybe interrupted) backup wrote."""
    if not directory.exists():
        return []
    if not directory.is_dir():
        return [Problem(str(directory), "", "is not a directory", "give a new directory for the backup")]
    entries = [p.name for p in directory.iterdir()]
    if entries and MARKER not in entries:
        return [Problem(str(directory), "", "is not empty and holds no earlier backup",
                        "give a new or empty directory for the backup")]
    return []


def write(plan: Plan, directory: Path) -> int:
    """Write every object of `plan` (replacing an earlier backup's files). Returns the number of files."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    (directory / MARKER).write_text("cluster-init pivot backup: one YAML file per object\n")
    for old in directory.glob("*.yaml"):
        old.unlink()
    count = 0
    for node in plan.nodes:
        if node.obj is None:
            continue
        path = directory / filename(node.obj)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(node.obj, f, sort_keys=False)
        tmp.rename(path)
        count += 1
    return count


def read(directory: Path) -> tuple[list[JSON], list[Problem]]:
    """Every object in the directory's YAML files, or the problems that make them unusable."""
    if not directory.is_dir():
        return [], [Problem(str(directory), "", "is not a directory", "give the directory a backup was written to")]
    objects: list[JSON] = []
    problems: list[Problem] = []
    files = sorted(directory.glob("*.yaml"))
    if not files:
        problems.append(Problem(str(directory), "", "holds no YAML files",
                                "give the directory a backup was written to"))
    for path in files:
        try:
            docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        except (OSError, yaml.YAMLError) as e:
            problems.append(Problem(str(path), "", f"cannot be read as YAML ({type(e).__name__})",
                                    "restore it from the backup's original copy"))
            continue
        for doc in docs:
            meta = doc.get("metadata") if isinstance(doc, dict) else None
            if not isinstance(meta, dict) or not doc.get("apiVersion") or not doc.get("kind") or not meta.get("uid"):
                problems.append(Problem(str(path), "", "is not an object of a backup (apiVersion, kind, metadata.uid)",
                                        "remove it from the directory"))
                continue
            objects.append(doc)
    return objects, problems
