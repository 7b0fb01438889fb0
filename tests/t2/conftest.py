"""Fixtures the T2 tests share."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def openstack_cloud() -> Iterator[tuple[Path, str]]:
    """The test OpenStack (testenv/openstack), started from fresh state once per session: its clouds.yaml and the
    test project's cloud name in it (`<name>-admin` is the cloud's admin). Installed on first use; stopped at the
    end of the session by its recorded PIDs."""
    from testenv import openstack

    path = openstack.up()
    try:
        yield path, openstack.CLOUD
    finally:
        openstack.down()
