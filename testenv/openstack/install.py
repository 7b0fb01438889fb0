"""The test cloud's software: Debian's MariaDB, RabbitMQ and qemu-utils, and one venv outside the repo with
the OpenStack services from PyPI at exact pins plus our test stand-ins. Idempotent: a venv whose marker names
the same pins and stand-ins is left as it is."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from testenv.build import cache_root
from testenv.stack import host
from testenv.stack.progress import step

PACKAGES = ("mariadb-server", "rabbitmq-server", "qemu-utils")
# The 2026.2 series measured in the notes (offline-openstack.md); every requirement pinned exactly.
PINS = ("keystone==30.0.0", "neutron==29.0.0", "nova==34.0.0", "openstack-placement==16.0.0", "glance==33.0.0",
        "cinder==29.0.0", "octavia==19.0.0", "openstacksdk==4.22.0", "python-openstackclient==10.5.0",
        "gunicorn==27.0.1", "PyMySQL==1.2.4")
STANDINS = Path(__file__).resolve().parent / "standins"


class InstallError(RuntimeError):
    """A package or the venv would not install."""


def root() -> Path:
    return cache_root() / "openstack"


def venv() -> Path:
    return root() / "venv"


def bin_path(name: str) -> Path:
    return venv() / "bin" / name


def _run(cmd: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise InstallError(f"{' '.join(cmd[:4])} … failed:\n{proc.stderr[-2000:]}")


def fingerprint() -> str:
    """The pins and the stand-ins' sources: a change to either reinstalls."""
    digest = hashlib.sha256("\n".join(PINS).encode())
    for path in sorted(STANDINS.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and ".egg-info" not in str(path):
            digest.update(path.relative_to(STANDINS).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> Path:
    marker = venv() / ".cluster-init-installed"
    want = fingerprint()
    if marker.exists() and marker.read_text() == want:
        return venv()
    with step(f"pip install the OpenStack services into {venv()}"):
        if not bin_path("python").exists():
            _run([sys.executable, "-m", "venv", str(venv())])
        _run([str(bin_path("pip")), "install", "-q", "--upgrade", "pip"])
        _run([str(bin_path("pip")), "install", "-q", *PINS])
        build = root() / "standins-build"  # a copy: building in the repo would leave build/ and egg-info there
        shutil.rmtree(build, ignore_errors=True)
        shutil.copytree(STANDINS, build, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"))
        _run([str(bin_path("pip")), "install", "-q", "--no-deps", "--force-reinstall",
              str(build)])
        marker.write_text(want)
    return venv()


def ensure() -> Path:
    host.ensure_packages(PACKAGES, "the test cloud", recommends=False)
    return ensure_venv()
