"""The real helm, kustomize and crane binaries, built from their pinned Go modules into the user cache.

`go install module@version` works for all three (none of the modules carries `replace` directives), so the
pinned version (`pins`) is all that is needed. crane (go-containerregistry) copies images and OCI artifacts
for `mirror`: it reads the user's docker credentials and speaks plain HTTP to a registry only when told.
Run `python -m cluster_init.tools install` (or `make setup`) once per machine.
"""

from __future__ import annotations

import os
import sys

from cluster_init.paths import cache_dir
from cluster_init.pins import tool_version

TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    from pathlib import Path

# Imports here stay light (no subprocess or pathlib until they are used): `plan` finds helm through
# this module before anything else is loaded.

TOOLS = ("helm", "kustomize", "crane", "kind")

# Linker flags that stamp the version into `helm version` (its build would otherwise say "v4.x").
_VERSION_FLAGS = {"helm": "-X {module}/internal/version.version={version}"}


def tool_path(name: str) -> str:
    """The cached binary for the pinned version (CLUSTER_INIT_HELM / _KUSTOMIZE / _CRANE override)."""
    if override := os.environ.get(f"CLUSTER_INIT_{name.upper()}"):
        return override
    return os.path.join(cache_dir(), "tools", f"{name}-{tool_version(name)}", name)


def runnable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)


def require(name: str) -> str:
    path = tool_path(name)
    if not runnable(path):
        from cluster_init.errors import RuntimeFailure

        raise RuntimeFailure(
            f"{name} {tool_version(name)} is not installed at {path}; "
            "run `make setup` (or `python -m cluster_init.tools install`)"
        )
    return path


def child_env() -> dict[str, str]:
    """The environment for helm and kustomize: Go's collector off, under a memory cap, unless the user set either.

    Both are short-lived, and much of a `helm template` run is garbage collection during start-up. With
    GOGC=off and GOMEMLIMIT (a soft cap) the collector runs only when the heap nears the cap, so memory
    stays bounded (helm on this chart: about 50 MB either way) and helm finishes 20-40% sooner.
    """
    if "GOGC" in os.environ or "GOMEMLIMIT" in os.environ:
        return dict(os.environ)
    return {**os.environ, "GOGC": "off", "GOMEMLIMIT": "512MiB"}


DEFAULT_TIMEOUT = 120.0
MAX_TIMEOUT = 86400.0


def timeout() -> float:
    """Seconds one run of helm or kustomize may take before it is killed (CLUSTER_INIT_TOOL_TIMEOUT overrides).

    helm renders this chart in well under a second; a tool that has not answered in two minutes never will.
    """
    text = os.environ.get("CLUSTER_INIT_TOOL_TIMEOUT", "")
    try:
        value = float(text) if text else DEFAULT_TIMEOUT
    except ValueError:
        value = -1.0
    if not 0 < value <= MAX_TIMEOUT:  # also refuses NaN
        from cluster_init.errors import InputError, Problem

        raise InputError([Problem("CLUSTER_INIT_TOOL_TIMEOUT", "", "is not a number of seconds",
                                  f"set it between 0 and {MAX_TIMEOUT:.0f}, or unset it")])
    return value


def timed_out(name: str, seconds: float) -> Exception:
    """The one line for a tool that never answered."""
    from cluster_init.errors import RuntimeFailure

    return RuntimeFailure(f"{name} did not finish within {seconds:g} s and was stopped; "
                          "check the tool, or raise CLUSTER_INIT_TOOL_TIMEOUT")


def run(name: str, args: list[str], stdin: str | None = None,
        limit: float | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool and capture its output, within `limit` seconds (default `timeout()`); the caller decides
    what a failure means. The tool runs in its own process group, so a timeout also stops whatever it started.
    """
    import signal
    import subprocess

    from cluster_init.errors import RuntimeFailure

    argv, limit = [require(name), *args], limit or timeout()
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, encoding="utf-8",
                                errors="replace", env=child_env(), process_group=0)
    except OSError as e:
        raise RuntimeFailure(f"cannot run {name} ({argv[0]}): {e.strerror or e}") from None
    with proc:
        try:
            out, err = proc.communicate(stdin, timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise timed_out(name, limit) from None
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def install(name: str) -> Path:
    """Build the pinned version with `go install` unless it is already cached."""
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    from cluster_init.errors import RuntimeFailure
    from cluster_init.pins import tool_pin

    path = Path(tool_path(name))
    if path.is_file():
        return path
    if shutil.which("go") is None:
        raise RuntimeFailure("go is not on PATH; install Go 1.26 to build helm, kustomize, crane and kind")
    pin = tool_pin(name)
    ldflags = "-s -w " + _VERSION_FLAGS.get(name, "").format(module=pin["module"], version=pin["version"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as gobin:
        env = {**os.environ, "GOBIN": gobin, "CGO_ENABLED": "0"}
        cmd = ["go", "install", "-trimpath", f"-ldflags={ldflags.strip()}", f"{pin['package']}@{pin['version']}"]
        print(f"building {name} {pin['version']} (first run on this machine only)", file=sys.stderr)
        subprocess.run(cmd, env=env, check=True)
        built = Path(gobin) / Path(pin["package"]).name
        if not built.is_file():  # kustomize/v5 installs as `kustomize`, not `v5`
            built = Path(gobin) / name
        os.replace(built, path)  # atomic: an interrupted build never leaves a half binary
    return path


def main(argv: list[str]) -> int:
    if argv != ["install"]:
        print("usage: python -m cluster_init.tools install", file=sys.stderr)
        return 2
    for name in TOOLS:
        print(f"{name}: {install(name)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
