"""An environment folder (environment-values/<env>): the user's values and secrets.

The folder is a kustomization that generates the `cluster-init-values` ConfigMap and the
`cluster-init-secrets` Secret, so a user can layer overlays. We build it with the real kustomize and
read the values back from those two objects: what we check is exactly what would be pushed.
"""

from __future__ import annotations

import base64
import binascii
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cluster_init import tools, yamlfile
from cluster_init.errors import InputError, Problem
from cluster_init.paths import display

VALUES_CONFIGMAP, VALUES_KEY = "cluster-init-values", "values"
SECRETS_SECRET, SECRETS_KEY = "cluster-init-secrets", "secrets"
KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


class Source:
    """One of the two documents: its parsed content, its text, and the name to show in errors."""

    def __init__(self, where: str, text: str, data: dict[str, Any]) -> None:
        self.where, self.text, self.data = where, text, data

    def at(self, path: tuple[str | int, ...]) -> str:
        line = yamlfile.line_of(self.text, path) if self.text else None
        return f"{self.where}:{line}" if line else self.where


class Environment:
    """The environment folder, its values and secrets, and the ConfigMap and Secret it builds."""

    def __init__(self, directory: Path, values: Source, secrets: Source, objects: list[dict[str, Any]]) -> None:
        self.directory, self.values, self.secrets, self.objects = directory, values, secrets, objects


def load(directory: Path, build: Callable[[], subprocess.CompletedProcess[str]] | None = None) -> Environment:
    """Check the folder, build it (or take `build`'s result, already under way), read values and secrets."""
    kustomization = _kustomization_file(directory)
    generated = _generated_files(directory, kustomization)
    built = build() if build else tools.run("kustomize", ["build", str(directory)])
    if built.returncode != 0:
        reason = (built.stderr.strip().splitlines() or ["kustomize build failed"])[-1]
        raise InputError([Problem(display(kustomization), "", f"kustomize build failed: {reason}",
                                  "fix the kustomization (try `kustomize build` on the folder)")])
    objects = yamlfile.parse_all(built.stdout)
    values = _source(objects, "ConfigMap", VALUES_CONFIGMAP, VALUES_KEY, generated, kustomization)
    secrets = _source(objects, "Secret", SECRETS_SECRET, SECRETS_KEY, generated, kustomization)
    kept = [o for o in objects if _name(o) in {VALUES_CONFIGMAP, SECRETS_SECRET}]
    return Environment(directory, values, secrets, kept)


def _kustomization_file(directory: Path) -> Path:
    if not directory.is_dir():
        raise InputError([Problem(display(directory), "", "no such environment directory",
                                  "pass a folder such as environment-values/kubeadm-capd")])
    for name in KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            return directory / name
    raise InputError([Problem(display(directory), "", "not an environment: it has no kustomization.yaml",
                              "copy one of environment-values/* as a starting point")])


def _generated_files(directory: Path, kustomization: Path) -> dict[tuple[str, str], Path]:
    """(generator name, key) -> the local file feeding it; a missing file is an input error."""
    text = kustomization.read_text(encoding="utf-8")
    try:
        spec = yamlfile.parse(text) or {}
    except yamlfile.YamlSyntaxError as e:
        where = f"{display(kustomization)}:{e.line}" if e.line else display(kustomization)
        raise InputError([Problem(where, "", f"YAML syntax error: {e.reason}", "fix the YAML")]) from None
    found: dict[tuple[str, str], Path] = {}
    problems: list[Problem] = []
    for section in ("configMapGenerator", "secretGenerator"):
        for index, generator in enumerate(spec.get(section) or []):
            for entry in generator.get("files") or []:
                key, _, rel = str(entry).rpartition("=")
                path = directory / rel
                key = key or Path(rel).name
                if not path.is_file():
                    where = f"{display(kustomization)}:{yamlfile.line_of(text, (section, index))}"
                    problems.append(Problem(display(path), "", f"file not found (listed by {where})",
                                            f"create it, e.g. with `{key}: {{}}`, or fix the path"))
                found[(str(generator.get("name")), key)] = path
    if problems:
        raise InputError(problems)
    return found


def _name(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _source(objects: list[dict[str, Any]], kind: str, name: str, key: str,
            generated: dict[tuple[str, str], Path], kustomization: Path) -> Source:
    obj = next((o for o in objects if o.get("kind") == kind and _name(o) == name), None)
    file = generated.get((name, key))
    where = display(file) if file else f"{kind} {name} (key {key})"
    if obj is None or key not in {**(obj.get("data") or {}), **(obj.get("stringData") or {})}:
        raise InputError([Problem(display(kustomization), f"{kind} {name}", f"does not generate key `{key}`",
                                  f"generate it, e.g. {kind.lower()}Generator files: [{key}={key}.yaml]")])
    text = (obj.get("stringData") or {}).get(key) or (obj.get("data") or {}).get(key, "")
    if kind == "Secret" and key in (obj.get("data") or {}):
        try:
            text = base64.b64decode(text).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise InputError([Problem(where, "", "is not valid UTF-8 text", "save it as UTF-8 YAML")]) from None
    try:
        data = yamlfile.parse(text) or {}
    except yamlfile.YamlSyntaxError as e:
        at = f"{where}:{e.line}" if e.line else where
        raise InputError([Problem(at, "", f"YAML syntax error: {e.reason}", "fix the YAML")]) from None
    if not isinstance(data, dict):
        raise InputError([Problem(where, "", "must be a YAML mapping of values", "write `key: value` pairs")])
    return Source(where, text, data)
