"""T0: whose pivot lock may be taken over at once (the rest of the lock is tested on the twin, in T1)."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

from cluster_init.pivot import lock

pytestmark = pytest.mark.t0


def lease(holder: str) -> dict[str, object]:
    return {"spec": {"holderIdentity": holder}}


def test_a_holder_of_this_machine_that_exited_is_gone() -> None:
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: the pid names no process now
    pid = child.pid
    assert lock._gone_from_here(lease(f"{socket.gethostname()}/{pid}/abcd"))


def test_a_live_holder_or_one_elsewhere_is_not() -> None:
    assert not lock._gone_from_here(lease(f"{socket.gethostname()}/{os.getpid()}/abcd"))
    assert not lock._gone_from_here(lease("another-machine/1/abcd"))


@pytest.mark.parametrize("holder", ["", "garbage", "host/not-a-pid/x"])
def test_a_lease_naming_no_holder_is_free(holder: str) -> None:
    assert lock._gone_from_here(lease(holder))
