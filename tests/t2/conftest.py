"""Fixtures the T2 tests share."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests on the test OpenStack run last: its dozen services hold CPU once started (they stay up for
    the session), which slowed the other T2 tests' clusters enough to time them out on a 2-core machine."""
    items.sort(key=lambda item: "openstack_cloud" in getattr(item, "fixturenames", ()))


@pytest.fixture(scope="session")
def openstack_cloud() -> Iterator[tuple[Path, str]]:
    """The test OpenStack (testenv/openstack), started from fresh state once per session: its clouds.yaml and the
    test project's cloud name in it (`<name>-admin` is the cloud's admin). Installed on first use; stopped at the
    end of the session by its recorded PIDs; another session waits for it. With CLUSTER_INIT_OPENSTACK=reuse, a
    cloud already running (`make openstack`) is used as it is and left running: for iterating on a test by hand."""
    from testenv import openstack

    if os.environ.get("CLUSTER_INIT_OPENSTACK") == "reuse" and openstack.answering():
        yield openstack.clouds_yaml(), openstack.CLOUD
        return
    with openstack.session() as path:
        yield path, openstack.CLOUD


def openstack_connection(clouds_yaml: Path, cloud: str) -> Any:
    """An openstacksdk connection to `cloud` of that clouds.yaml (openstack.connect ignores `config_files`)."""
    import openstack.config
    from openstack.connection import Connection

    return Connection(config=openstack.config.OpenStackConfig(config_files=[str(clouds_yaml)]).get_one(cloud=cloud))
