"""T0: whose pivot lock may be taken over at once (the rest of the lock is tested on the twin, in T1)."""

from __future__ import annotations

import os
import subprocess

import pytest

from cluster_init.pivot import lock

pytestmark = pytest.mark.t0


def lease(holder: str) -> dict[str, object]:
    return {"spec": {"holderIdentity": holder}}


def holder_with_pid(pid: int) -> str:
    """An identity of this machine and pid namespace, for another process."""
    host, _, pid_ns, nonce = lock.identity().split("/")
    return f"{host}/{pid}/{pid_ns}/{nonce}"


def test_a_holder_of_this_machine_that_exited_is_gone() -> None:
    child = subprocess.Popen(["true"])
    child.wait()  # reaped: the pid names no process now
    assert lock._gone_from_here(lease(holder_with_pid(child.pid)))


def test_a_holder_that_exited_but_is_not_reaped_yet_is_gone() -> None:
    child = subprocess.Popen(["true"])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # exited, still a zombie
        assert lock._gone_from_here(lease(holder_with_pid(child.pid)))
    finally:
        child.wait()


def test_a_live_holder_is_not_gone() -> None:
    assert not lock._gone_from_here(lease(lock.identity()))


@pytest.mark.parametrize("elsewhere", ["another-machine/{pid}/{ns}/abcd", "{host}/{pid}/another-namespace/abcd"])
def test_a_holder_on_another_machine_or_pid_namespace_is_not_judged_here(elsewhere: str) -> None:
    host, _, pid_ns, _ = lock.identity().split("/")
    child = subprocess.Popen(["true"])
    child.wait()
    assert not lock._gone_from_here(lease(elsewhere.format(host=host, pid=child.pid, ns=pid_ns)))


@pytest.mark.parametrize("holder", ["", "garbage", "host/not-a-pid/x"])
def test_a_lease_naming_no_holder_is_free(holder: str) -> None:
    assert lock._gone_from_here(lease(holder))
