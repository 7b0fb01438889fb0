"""Docker images of the offline stack: a Debian rootfs, and images made of binaries built here.

Images are tagged with the names upstream manifests and kubeadm use (registry.k8s.io/...), so nothing
has to be rewritten and nothing is ever pulled. An image is rebuilt only when the content it is made
from changed: each carries a `cluster-init.stack/input` label with the hash of its inputs.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path

from testenv.build import BuildError
from testenv.stack.host import stack_dir
from testenv.stack.progress import step

INPUT_LABEL = "cluster-init.stack/input"
ROOTFS_SUITE = "bookworm"
ROOTFS_MIRROR = "http://deb.debian.org/debian"


def docker(*args: str, stdin: bytes | None = None, timeout: float = 1800) -> str:
    proc = subprocess.run(["docker", *args], input=stdin, capture_output=True, check=False, timeout=timeout)
    if proc.returncode != 0:
        raise BuildError(f"docker {' '.join(args[:3])} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    return proc.stdout.decode(errors="replace")


def image_input(tag: str) -> str | None:
    """The input hash an existing image was built from (None when there is no such image)."""
    proc = subprocess.run(["docker", "image", "inspect", "--format", f'{{{{index .Config.Labels "{INPUT_LABEL}"}}}}',
                           tag], capture_output=True, text=True, check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def digest(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def fingerprint(src: Path) -> list[tuple[str, int, int]]:
    """What identifies a file or folder's content cheaply: each file's path, size and mtime."""
    files = sorted(p for p in src.rglob("*") if p.is_file()) if src.is_dir() else [src]
    return [(str(p), (s := p.stat()).st_size, s.st_mtime_ns) for p in files]


def rootfs_image(packages: Iterable[str]) -> str:
    """A minimal Debian rootfs with these packages, imported as an image (mmdebstrap, cached)."""
    packages = sorted(set(packages))
    key = digest(ROOTFS_SUITE, packages)
    tag = f"cluster-init-stack/rootfs:{key}"
    if image_input(tag) is not None:
        return tag
    tar = stack_dir() / "rootfs" / f"{key}.tar"
    if not tar.is_file():
        tar.parent.mkdir(parents=True, exist_ok=True)
        tmp = tar.with_suffix(".tmp.tar")  # mmdebstrap picks the format from the name
        with step(f"mmdebstrap {ROOTFS_SUITE} rootfs ({len(packages)} packages)"):
            proc = subprocess.run(["mmdebstrap", "--variant=minbase", f"--include={','.join(packages)}",
                                   ROOTFS_SUITE, str(tmp), ROOTFS_MIRROR], capture_output=True, text=True,
                                  check=False, timeout=1800)
            if proc.returncode != 0:
                tmp.unlink(missing_ok=True)
                raise BuildError(f"mmdebstrap failed: {proc.stderr[-2000:]}")
            tmp.rename(tar)
    with step(f"import rootfs {tag}"):
        docker("import", "--change", f"LABEL {INPUT_LABEL}={key}", str(tar), tag)
    return tag


def build(tag: str, dockerfile: str, files: Mapping[str, Path], modes: Mapping[str, int] | None = None) -> str:
    """`docker build` of `dockerfile` over a context of `files` (context path -> source), unless an image
    with the same inputs exists. `modes` sets file modes (the legacy builder has no COPY --chmod)."""
    key = digest(dockerfile, sorted((name, fingerprint(src)) for name, src in files.items()),
                 sorted((modes or {}).items()))
    if image_input(tag) == key:
        return tag
    with tempfile.TemporaryDirectory(dir=stack_dir()) as ctx, step(f"image {tag}"):
        for name, src in files.items():
            dest = Path(ctx) / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dest, dirs_exist_ok=True)
            else:
                shutil.copyfile(src, dest)
                dest.chmod(0o755 if src.stat().st_mode & 0o111 else 0o644)
        for name, mode in (modes or {}).items():
            (Path(ctx) / name).chmod(mode)
        (Path(ctx) / "Dockerfile").write_text(f"{dockerfile}\nLABEL {INPUT_LABEL}={key}\n")
        docker("build", "--quiet", "--tag", tag, ctx)
    return tag


def static_image(tag: str, binary: Path, entrypoint: str, extra: Mapping[str, Path] | None = None) -> str:
    """FROM scratch: one static binary at /usr/local/bin (and on PATH), run as its entrypoint."""
    files = {f"usr/local/bin/{binary.name}": binary, **(extra or {})}
    dockerfile = (
        "FROM scratch\n"
        "COPY . /\n"
        "ENV PATH=/usr/local/bin:/usr/bin:/bin\n"
        f'ENTRYPOINT ["{entrypoint}"]\n'
    )
    return build(tag, dockerfile, files)


def save(tags: Iterable[str], out: Path) -> Path:
    """One tar of these images (what `ctr images import` reads), rewritten only when they changed."""
    tags = sorted(tags)
    ids = [docker("image", "inspect", "--format", "{{.Id}}", t).strip() for t in tags]
    key = digest(tags, ids)
    marker = out.with_suffix(".input")
    if out.is_file() and marker.is_file() and marker.read_text() == key:
        return out
    with step(f"save {len(tags)} images"):
        docker("save", "--output", str(out), *tags)
        marker.write_text(key)
    return out
