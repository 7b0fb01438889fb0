"""T1: the twin fails fast and cleanly: a busy port, an API server that dies mid-test."""

from __future__ import annotations

import os
import signal
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster_init.kube import ApiError
from testenv import ControlPlane, StartupError

pytestmark = pytest.mark.t1


def processes_of(control_plane: ControlPlane) -> list[int]:
    """Live processes whose command line names this control plane's state dir."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(control_plane.dir) in cmdline:
            found.append(int(pid))
    return found


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_busy_port_is_refused_with_a_clear_message(busy_port: int) -> None:
    control_plane = ControlPlane(f"busy-{uuid.uuid4().hex[:6]}", port=busy_port)
    started = time.monotonic()
    with pytest.raises(StartupError, match=f"port {busy_port} .* already in use"):
        control_plane.up()
    assert time.monotonic() - started < 30
    assert processes_of(control_plane) == []
    control_plane.down()


def test_a_dead_api_server_gives_an_error_not_a_hang() -> None:
    control_plane = ControlPlane(f"dead-{uuid.uuid4().hex[:6]}")
    try:
        control_plane.up()
        client = control_plane.client()
        assert client.request("GET", "/readyz") == "ok"
        pid = int((control_plane.dir / "kube-apiserver.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:  # the port closes as soon as the process is reaped
            try:
                client.request("GET", "/readyz", timeout=2)
            except ApiError as e:
                assert e.status == 0
                assert "127.0.0.1" in str(e)
                break
            assert time.monotonic() < deadline, "the killed API server still answers"
    finally:
        stopped = control_plane.down()
    assert "kube-apiserver" not in stopped
    assert processes_of(control_plane) == []
