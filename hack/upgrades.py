"""`make upgrades`: for every pin, the newer versions the Go module proxy serves, and which would break a bound.

A report for maintainers, not a test: it asks the proxy (network, minutes). For each pin of
versions.yaml that names its Go `module`, it lists the newer versions (what `go list -m -versions`
lists, which can miss served versions, plus probes of the next patches, minors and major) and marks
each one:

  ok          served, and inside every `compatibility` range of the table
  breaks ...  served, but outside a range (or a new line the table has no matrix entry for)
  pre-release served, but not a release

and ends with the newer versions that are not served here (the proxy answers 403 both for a version
it refuses and for one that does not exist; neither can be built here).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator
from typing import Any, NamedTuple

from pins import table  # its sibling: a script's folder is on sys.path

SEMVER = re.compile(r"^v(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?$")
GO_TIMEOUT = 120


class Pin(NamedTuple):
    name: str
    module: str
    version: str
    gonosumdb: bool


def parse(version: str) -> tuple[int, int, int] | None:
    match = SEMVER.match(version)
    return (int(match[1]), int(match[2]), int(match[3])) if match else None


def order(version: str) -> tuple[int, ...]:
    """Semver order: a pre-release comes before its release."""
    return (*(parse(version) or (0, 0, 0)), "-" not in version)


def line(version: str) -> str:
    """v1.14.2 -> v1.14"""
    return version.rsplit(".", 1)[0]


def every_pin(data: dict[str, Any]) -> Iterator[Pin]:
    """Upstreams and tools. Of the twin only etcd: its Kubernetes is upstreams.kubernetes, and its Flux
    controllers are those upstreams.flux ships."""
    for section in ("upstreams", "tools"):
        for name, pin in data[section].items():
            if "module" in pin:
                yield Pin(name, pin["module"], pin["version"], bool(pin.get("gonosumdb")))
    yield Pin("etcd", "go.etcd.io/etcd/server/v3", data["twin"]["etcd"], False)


def go(args: list[str], pin: Pin, cwd: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GOFLAGS": "-mod=mod", "GOWORK": "off"}
    if pin.gonosumdb:
        env["GONOSUMDB"] = pin.module
    try:
        return subprocess.run(["go", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=GO_TIMEOUT,
                              check=False)
    except subprocess.TimeoutExpired:
        return subprocess.CompletedProcess(args, 124, "", f"timed out after {GO_TIMEOUT}s")


def listed(pin: Pin, cwd: str) -> list[str] | None:
    """The versions the proxy lists for the module, or None when it refuses the list."""
    proc = go(["list", "-m", "-versions", pin.module], pin, cwd)
    return proc.stdout.split()[1:] if proc.returncode == 0 else None


def probes(version: str) -> list[str]:
    """The next three patches, the next two minors and the next major (the proxy's list can miss them)."""
    major, minor, patch = parse(version) or (0, 0, 0)
    return ([f"v{major}.{minor}.{patch + i}" for i in (1, 2, 3)]
            + [f"v{major}.{minor + i}.0" for i in (1, 2)] + [f"v{major + 1}.0.0"])


def served(pin: Pin, version: str, cwd: str) -> bool:
    """Whether the proxy serves the source zip, as a build would fetch it."""
    proc = go(["mod", "download", "-json", f"{pin.module}@{version}"], pin, cwd)
    return proc.returncode == 0 and '"Dir"' in proc.stdout


def bound_problems(data: dict[str, Any], name: str, version: str) -> list[str]:
    """The compatibility ranges `version` of pin `name` would leave, with the other pins as they are."""
    current = {n: p["version"] for n, p in {**data["upstreams"], **data["tools"]}.items()}
    current["etcd"] = data["twin"]["etcd"]
    problems = []
    for rule in data.get("compatibility") or []:
        if rule["pin"] == name and line(current[rule["by"]]) == rule["line"]:
            low, high, mine = parse(rule["min"] + ".0"), parse(rule["max"] + ".0"), parse(line(version) + ".0")
            if low and high and mine and not low[:2] <= mine[:2] <= high[:2]:
                problems.append(f"{rule['by']} {rule['line']} supports {name} {rule['min']}-{rule['max']}")
        elif rule["by"] == name and line(version) != rule["line"]:
            problems.append(f"no matrix entry for {name} {line(version)} and {rule['pin']}: check {rule['source']}")
    return problems


def report(data: dict[str, Any]) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as cwd:
        for pin in every_pin(data):
            mine = parse(pin.version)
            versions = listed(pin, cwd)
            candidates = sorted(set(versions or []) | set(probes(pin.version)), key=order)
            newer = [v for v in candidates if mine and order(v) > order(pin.version)]
            how = "listed and probed" if versions is not None else "list refused; probed"
            yield f"{pin.name} {pin.version} ({pin.module}, {how})"
            not_served = []
            for version in newer:
                if not served(pin, version, cwd):
                    not_served.append(version)
                    continue
                problems = bound_problems(data, pin.name, version)
                verdict = "pre-release" if "-" in version else "breaks: " + "; ".join(problems) if problems else "ok"
                yield f"  {version:<16} {verdict}"
            if not_served:
                yield f"  not served here (403: refused or absent; or it needs a newer Go): {', '.join(not_served)}"


def main() -> int:
    for row in report(table()):
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
