"""The cluster-init image (the pivot Job runs it), built from the repository's own Dockerfile as a user
builds it, with two build arguments instead of internet: the base is a Debian rootfs with python3 (made with
mmdebstrap, like the stack's other images), and pip installs from a wheelhouse the host downloads from PyPI
for that Python and this machine's architecture (`--no-index --find-links`). Docker builds here may reach no
index at all.

Rebuilt only when its inputs change: the package's files (by content: pytest rewrites __pycache__), the
Dockerfile, the base and the wheelhouse. Tagged with the name the chart gives it (upstreams.cluster-init).
"""

from __future__ import annotations

import hashlib
import platform
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

from testenv.build import BuildError
from testenv.stack import images
from testenv.stack.host import stack_dir
from testenv.stack.progress import step
from testenv.stack.versions import upstream

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("python3", "python3-venv")
CONTEXT = ("pyproject.toml", "README.md", "src", "Dockerfile", ".dockerignore")
GLIBC_MINOR = 36  # Debian bookworm's glibc: wheels for manylinux 2.17 (2014) up to 2.36 run on it


def tag() -> str:
    pin = upstream("cluster-init")
    return f"{pin['image_registry']}/cluster-init:{pin['version']}"


def _files() -> list[Path]:
    out = []
    for name in CONTEXT:
        path = ROOT / name
        found = sorted(path.rglob("*")) if path.is_dir() else [path]
        out += [p for p in found if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"]
    return out


def content_hash() -> str:
    """The package's build inputs by content (paths relative to the repository)."""
    h = hashlib.sha256()
    for path in _files():
        h.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def requirements() -> list[str]:
    """What pip needs offline: the runtime dependencies and the build backend (no dev extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [*project["build-system"]["requires"], "wheel", *project["project"]["dependencies"]]


def python_version(base: str) -> str:
    """The base image's Python as pip's --python-version wants it (3.11)."""
    out = images.docker("run", "--rm", "--network", "none", "--entrypoint", "python3", base, "-c",
                        "import sys; print('%d.%d' % sys.version_info[:2])")
    return out.strip()


def wheelhouse(base: str) -> Path:
    """Wheels of every requirement for the base's Python and this architecture, downloaded once."""
    reqs = requirements()
    folder = stack_dir() / "wheelhouse" / images.digest(base, reqs, platform.machine())
    if (folder / ".complete").is_file():
        return folder
    version = python_version(base)
    abi = "cp" + version.replace(".", "")
    tmp = folder.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    with step(f"wheelhouse for Python {version} ({len(reqs)} requirements, from PyPI)"):
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                               "--only-binary=:all:", "--dest", str(tmp), "--python-version", version,
                               "--implementation", "cp", "--abi", abi, "--abi", "abi3", "--abi", "none",
                               *platforms(), *reqs],
                              capture_output=True, text=True, check=False, timeout=900)
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BuildError(f"pip download failed: {proc.stderr[-2000:]}")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    (folder / ".complete").write_text("\n".join(reqs) + "\n")
    return folder


def platforms() -> list[str]:
    """pip's --platform options for the base: every manylinux glibc it runs, newest first (pip widens none)."""
    arch = platform.machine()
    names = [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 16, -1)] + [f"manylinux2014_{arch}", "any"]
    return [f"--platform={name}" for name in names]


def image() -> str:
    """The image, built when its inputs changed; its tag."""
    base = images.rootfs_image(PACKAGES)
    wheels = wheelhouse(base)
    name = tag()
    key = images.digest(content_hash(), base, images.image_input(base), sorted(p.name for p in wheels.iterdir()))
    if images.image_input(name) == key:
        return name
    with tempfile.TemporaryDirectory(dir=stack_dir()) as ctx, step(f"image {name}"):
        for path in _files():
            dest = Path(ctx) / path.relative_to(ROOT)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
        shutil.copytree(wheels, Path(ctx) / "wheelhouse")
        images.docker("build", "--quiet", "--tag", name, "--label", f"{images.INPUT_LABEL}={key}",
                      "--build-arg", f"BASE={base}",
                      "--build-arg", "PIP_ARGS=--no-index --find-links=/src/wheelhouse", ctx)
    return name
