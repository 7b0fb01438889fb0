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

from cluster_init import output, tools, yamlfile
from cluster_init.errors import InputError, Problem, RuntimeFailure
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
        raise _build_failure(kustomization, built)
    objects = yamlfile.objects("kustomize", built.stdout)
    secrets = _source(objects, "Secret", SECRETS_SECRET, SECRETS_KEY, generated, kustomization)
    values = _source(objects, "ConfigMap", VALUES_CONFIGMAP, VALUES_KEY, generated, kustomization)
    kept = [o for o in objects if _name(o) in {VALUES_CONFIGMAP, SECRETS_SECRET}]
    return Environment(directory, values, secrets, kept)


def _build_failure(kustomization: Path, built: subprocess.CompletedProcess[str]) -> Exception:
    """kustomize explains a bad kustomization with `Error: ...` (the user's to fix); anything else is the tool's."""
    lines = [line.strip() for line in built.stderr.splitlines() if line.strip()]
    explained = [line for line in lines if line.startswith("Error:")]
    if built.returncode > 0 and explained:
        return InputError([Problem(display(kustomization), "", f"kustomize build failed: {explained[-1]}",
                                   "fix the kustomization (try `kustomize build` on the folder)")])
    said = f": {lines[-1][:200]}" if lines else " without saying why"
    return RuntimeFailure(f"kustomize build of {display(kustomization.parent)} failed (exit {built.returncode}){said}")


def _kustomization_file(directory: Path) -> Path:
    if not directory.is_dir():
        raise InputError([Problem(display(directory), "", "no such environment directory",
                                  "pass a folder such as environment-values/kubeadm-capd")])
    for name in KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            return directory / name
    raise InputError([Problem(display(directory), "", "not an environment: it has no kustomization.yaml",
                              "copy one of environment-values/* as a starting point")])


def read_text(path: Path) -> str:
    """A user's file as text: at most yamlfile.MAX_BYTES, UTF-8, readable; else one clear problem."""
    try:
        with path.open("rb") as f:
            raw = f.read(yamlfile.MAX_BYTES + 1)
    except OSError as e:
        raise InputError([Problem(display(path), "", f"cannot be read: {e.strerror or e}",
                                  "fix the file or the link to it")]) from None
    if len(raw) > yamlfile.MAX_BYTES:
        raise InputError([Problem(display(path), "", f"is larger than {yamlfile.MAX_BYTES >> 10} KiB",
                                  "split it, or remove what is not needed")])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError([Problem(display(path), "", f"is not valid UTF-8 text (byte {e.start})",
                                  "save it as UTF-8")]) from None


def parse_user(text: str, where: str) -> Any:
    """A user's YAML text, read as Helm will read it; every problem as one line naming file, line and field."""
    try:
        return yamlfile.load(text)
    except yamlfile.YamlSyntaxError as e:
        raise InputError([Problem(f"{where}:{i.line}" if i.line else where, _dotted(i.path), i.what, i.fix)
                          for i in e.issues]) from None


def _dotted(path: tuple[str | int, ...]) -> str:
    return ".".join(str(p) for p in path)


def _generated_files(directory: Path, kustomization: Path) -> dict[tuple[str, str], Path]:
    """(generator name, key) -> the local file feeding it; a missing file is an input error.

    Only well-formed entries are looked at: kustomize itself explains a malformed kustomization.
    """
    text = read_text(kustomization)
    try:
        spec = yamlfile.parse(text)
    except yamlfile.YamlSyntaxError as e:
        raise InputError([Problem(f"{display(kustomization)}:{i.line}" if i.line else display(kustomization),
                                  _dotted(i.path), i.what, i.fix) for i in e.issues]) from None
    found: dict[tuple[str, str], Path] = {}
    problems: list[Problem] = []
    for section, index, generator, rel, key in _generator_files(spec):
        path = directory / rel
        if not path.is_file():
            where = f"{display(kustomization)}:{yamlfile.line_of(text, (section, index))}"
            problems.append(Problem(display(path), "", f"file not found (listed by {where})",
                                    f"create it, e.g. with `{key}: {{}}`, or fix the path"))
        else:
            read_text(path)  # too large, not UTF-8, unreadable: said here, not as a puzzle after kustomize
        found[(generator, key)] = path
    if problems:
        raise InputError(problems)
    return found


def _generator_files(spec: Any) -> list[tuple[str, int, str, str, str]]:
    """(section, index, generator name, file, key) of every well-formed generator file entry."""
    found = []
    sections = spec if isinstance(spec, dict) else {}
    for section in ("configMapGenerator", "secretGenerator"):
        generators = sections.get(section)
        for index, generator in enumerate(generators if isinstance(generators, list) else []):
            entries = generator.get("files") if isinstance(generator, dict) else None
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, str) and entry:
                    key, _, rel = entry.rpartition("=")
                    found.append((section, index, str(generator.get("name")), rel, key or Path(rel).name))
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
    data = parse_user(text, where)
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise InputError([Problem(where, "", "must be a YAML mapping of values", "write `key: value` pairs")])
    if kind == "Secret":
        output.protect(_strings(data))
    return Source(where, text, data)


def _strings(node: Any) -> list[str]:
    """Every scalar under `node`, as text."""
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [] if node is None or isinstance(node, bool) else [str(node)]
