"""Build one `main` package of a pinned Go module into the stack's cache, once per version.

Each build gets a small wrapper module that requires the upstream at the pin (and, where upstream
replaces its own nested modules with local paths, pins those to served versions), so modules with
`replace` directives build too. Binaries land in <cache>/stack/bin/<name>-<version>/<name>, written
under a temporary name and renamed, so an interrupted build leaves nothing half-made.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testenv.build import BuildError, go_binary
from testenv.stack.host import stack_dir
from testenv.stack.progress import step


@dataclass(frozen=True)
class GoBinary:
    name: str
    module: str
    version: str
    package: str
    cgo: bool = False
    tags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()  # extra -X flags, e.g. the version stamp upstream's Makefile injects
    replaces: tuple[tuple[str, str], ...] = ()  # (module, version): nested modules upstream takes from ./
    no_sumdb: tuple[str, ...] = ()  # module paths without a checksum-database record (the pin table says which)

    @property
    def path(self) -> Path:
        return stack_dir() / "bin" / f"{self.name}-{self.version}" / self.name


def _wrapper(binary: GoBinary) -> Path:
    """The wrapper module of this build: require the upstream, replace what upstream takes from ./"""
    folder = stack_dir() / "gomod" / f"{binary.name}-{binary.version}"
    folder.mkdir(parents=True, exist_ok=True)
    replaces = "".join(f"replace {m} => {m} {v}\n" for m, v in binary.replaces)
    text = f"module cluster-init.local/stack/{binary.name}\n\ngo 1.26.0\n\n" \
           f"require {binary.module} {binary.version}\n\n{replaces}"
    gomod = folder / "go.mod"
    if not gomod.is_file() or not gomod.read_text().startswith(text):
        gomod.write_text(text)
        (folder / "go.sum").unlink(missing_ok=True)
    return folder


def _go(binary: GoBinary, cwd: Path, *args: str) -> None:
    env = {**os.environ, "GOWORK": "off", "GOFLAGS": "-mod=mod -buildvcs=false",
           "CGO_ENABLED": "1" if binary.cgo else "0"}
    if binary.no_sumdb:
        env["GONOSUMDB"] = ",".join(binary.no_sumdb)
    proc = subprocess.run([go_binary(), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"{binary.name} {binary.version}: go {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


def ensure(binary: GoBinary) -> Path:
    """The binary, built first if it is not in the cache."""
    out = binary.path
    if out.is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if out.is_file():
            return out
        folder = _wrapper(binary)
        tmp = out.parent / f".{binary.name}.{os.getpid()}.tmp"
        flags = ["-s", "-w", *binary.ldflags]
        with step(f"build {binary.name} {binary.version}"):
            try:
                _go(binary, folder, "get", f"{binary.module}@{binary.version}")
                build = ["build", "-trimpath", f"-ldflags={' '.join(flags)}", "-o", str(tmp)]
                if binary.tags:
                    build.append(f"-tags={','.join(binary.tags)}")
                _go(binary, folder, *build, binary.package)
                tmp.rename(out)
            finally:
                tmp.unlink(missing_ok=True)
    return out
