"""The machine under the offline stack: Debian packages, and a running dockerd.

Everything is idempotent: a package already installed, a wrapper already built or a dockerd already
answering is left as it is. On machines whose capability bounding set lacks CAP_SYS_RESOURCE (these
test machines), dockerd runs every container through our runc wrapper (see runc-wrapper/main.go).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from testenv.build import cache_root, go_binary
from testenv.stack.progress import step

PACKAGES = ("docker.io", "mmdebstrap", "libseccomp-dev", "pkg-config", "gcc", "libc6-dev", "pigz")
WRAPPER_SOURCE = Path(__file__).resolve().parent / "runc-wrapper"
RUNTIME = "cluster-init-runc"
CAP_SYS_RESOURCE = 24
DOCKER_SOCKET = Path("/var/run/docker.sock")


class HostError(RuntimeError):
    """The machine cannot run the stack (no root, a package that will not install, dockerd that will not start)."""


def stack_dir() -> Path:
    return cache_root() / "stack"


def missing_packages(packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """Which of the Debian `packages` dpkg does not have installed."""
    query = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages],
                           capture_output=True, text=True, check=False)
    installed = {line.split()[0] for line in query.stdout.splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def ensure_packages(packages: tuple[str, ...] = PACKAGES, needed_by: str = "the offline stack",
                    recommends: bool = True) -> None:
    """apt-get install what dpkg lacks of `packages`, as root. Debian's scripts would start the services they
    install (dockerd, MariaDB, RabbitMQ): a policy-rc.d refuses, since the stack and the test cloud start their
    own instances."""
    missing = missing_packages(packages)
    if not missing:
        return
    if os.geteuid() != 0:
        raise HostError(f"{needed_by} needs these Debian packages: {' '.join(missing)}; install them as root")
    with step(f"apt-get install {' '.join(missing)}"):
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        policy = Path("/usr/sbin/policy-rc.d")
        ours = not policy.exists()
        if ours:
            policy.write_text("#!/bin/sh\nexit 101\n")
            policy.chmod(0o755)
        try:
            for cmd in (["apt-get", "update", "-qq"],
                        ["apt-get", "install", "-y", "-qq", *([] if recommends else ["--no-install-recommends"]),
                         *missing]):
                proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=900)
                if proc.returncode != 0:
                    raise HostError(f"{' '.join(cmd[:4])} … failed:\n{proc.stderr[-2000:]}")
        finally:
            if ours:
                policy.unlink()


def lacks_sys_resource() -> bool:
    """Whether this machine's capability bounding set lacks CAP_SYS_RESOURCE (privileged containers then fail)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return not int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1
    return False


def cgroup_v1() -> bool:
    """Whether this machine mounts cgroup v1 (no unified hierarchy at /sys/fs/cgroup)."""
    return not Path("/sys/fs/cgroup/cgroup.controllers").exists()


def runc_wrapper() -> Path:
    """Our runc wrapper, built once, beside a `runc.real` link to the machine's runc."""
    out = stack_dir() / "runtime"
    wrapper, real = out / "runc", out / "runc.real"
    if wrapper.is_file() and real.exists():
        return wrapper
    out.mkdir(parents=True, exist_ok=True)
    system_runc = shutil.which("runc") or "/usr/sbin/runc"
    tmp = out / f".runc.{os.getpid()}"
    env = {**os.environ, "CGO_ENABLED": "0", "GOWORK": "off", "GOFLAGS": ""}
    subprocess.run([go_binary(), "build", "-trimpath", "-o", str(tmp), "."], cwd=WRAPPER_SOURCE, env=env, check=True)
    real.unlink(missing_ok=True)
    real.symlink_to(system_runc)
    tmp.rename(wrapper)
    return wrapper


def default_runtime() -> str | None:
    """dockerd's default runtime, or None when no dockerd answers."""
    proc = subprocess.run(["docker", "info", "--format", "{{.DefaultRuntime}}"], capture_output=True, text=True,
                          check=False, timeout=30)
    return proc.stdout.strip() if proc.returncode == 0 else None


def ensure_dockerd(timeout: float = 60.0) -> None:
    """A dockerd that answers, started in the background (logs in the stack dir) when none runs."""
    wrapped = lacks_sys_resource()
    if (runtime := default_runtime()) is not None:
        if wrapped and runtime != RUNTIME:
            raise HostError(f"dockerd runs without the `{RUNTIME}` runtime, and this machine lacks CAP_SYS_RESOURCE: "
                            "stop dockerd and run the stack again, so that it starts dockerd with the runtime")
        return
    if os.geteuid() != 0:
        raise HostError("dockerd is not running and only root can start it")
    cmd = ["dockerd", "--host", f"unix://{DOCKER_SOCKET}"]
    if wrapped:
        cmd += ["--add-runtime", f"{RUNTIME}={runc_wrapper()}", "--default-runtime", RUNTIME]
    log = stack_dir() / "dockerd.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with step("start dockerd"), open(log, "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)
        deadline = time.monotonic() + timeout
        while default_runtime() is None:
            if proc.poll() is not None:
                raise HostError(f"dockerd exited with {proc.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise HostError(f"dockerd did not answer within {timeout:.0f}s; see {log}")
            time.sleep(0.5)


def ensure_host() -> None:
    ensure_packages()
    ensure_dockerd()
