"""The test cloud's processes: started in their own session with their output in the log folder, their PIDs
(with start times, so a reused PID is never signalled) recorded, and stopped by those records only."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from testenv.openstack.config import Cloud

LAUNCHER = Path(__file__).resolve().parent / "launcher.py"


class ServiceError(RuntimeError):
    """A service exited or did not answer in time."""


@dataclass(frozen=True)
class Service:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    port: tuple[str, int] | None = None  # where it answers once ready
    http: bool = False  # ready once HTTP answers there (gunicorn listens before its worker has loaded the app)


def wsgi(cloud: Cloud, name: str, module: str, port: int, conf_args: list[str], env: dict[str, str]) -> Service:
    """A WSGI API served by gunicorn through our launcher, on the cloud's address."""
    argv = [str(cloud.venv / "bin/python"), str(LAUNCHER), module, f"{cloud.host}:{port}", "--", *conf_args]
    return Service(name, argv, env, (cloud.host, port), http=True)


def run_dir(root: Path) -> Path:
    path = root / "run"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _start_time(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def start(root: Path, log_dir: Path, service: Service) -> subprocess.Popen[bytes]:
    log = (log_dir / f"{service.name}.out").open("ab")
    proc = subprocess.Popen(service.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env={**os.environ, **service.env}, start_new_session=True, cwd=log_dir)
    (run_dir(root) / f"{service.name}.pid").write_text(f"{proc.pid} {_start_time(proc.pid)}\n")
    return proc


def answers(service: Service) -> bool:
    assert service.port
    if service.http:
        host, port = service.port
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/", timeout=5):
                return True
        except urllib.error.HTTPError as e:
            return e.code < 500
        except OSError:
            return False
    try:
        with socket.create_connection(service.port, timeout=2):
            return True
    except OSError:
        return False


def wait(procs: dict[str, subprocess.Popen[bytes]], services: list[Service], log_dir: Path,
         timeout: float) -> None:
    """Until every service with a port answers there; a service that exits fails at once, with its log's tail."""
    deadline = time.monotonic() + timeout
    pending = [s for s in services if s.port]
    while pending:
        for s in list(pending):
            if procs[s.name].poll() is not None:
                tail = (log_dir / f"{s.name}.out").read_text(errors="replace")[-2000:]
                raise ServiceError(f"{s.name} exited ({procs[s.name].returncode}); {log_dir}/{s.name}.out:\n{tail}")
            if answers(s):
                pending.remove(s)
        if pending and time.monotonic() > deadline:
            raise ServiceError(f"not answering after {timeout:.0f}s: {', '.join(s.name for s in pending)}"
                               f" (logs in {log_dir})")
        time.sleep(0.5)


def stop_all(root: Path, timeout: float = 30.0) -> list[str]:
    """Stop every recorded process group (TERM, then KILL after `timeout`); the names that were running."""
    stopped = []
    records = sorted(run_dir(root).glob("*.pid"))
    live = []
    for record in records:
        try:
            pid_text, _, started = record.read_text().strip().partition(" ")
        except FileNotFoundError:  # stopped meanwhile by another `down`
            continue
        pid = int(pid_text)
        if _start_time(pid) == started:
            live.append(pid)
            stopped.append(record.stem)
            _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while live and time.monotonic() < deadline:
        live = [pid for pid in live if _group_alive(pid)]
        time.sleep(0.3)
    for pid in live:
        _signal(pid, signal.SIGKILL)
    for record in records:
        record.unlink(missing_ok=True)
    return stopped


def _signal(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True
