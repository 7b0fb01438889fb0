"""The OpenStack connection of a cleanup: the environment's secrets (what CAPO is given), or a clouds.yaml.

The chart turns `secrets.openstack` into the clouds.yaml it hands CAPO (templates/vars.yaml); the same keys make
the connection here. Every secret value is registered with `output.protect` before any request, so no error,
trace or progress line can show it.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from cluster_init import output
from cluster_init.errors import InputError, Problem

if TYPE_CHECKING:
    from collections.abc import Iterator

    from openstack.connection import Connection

    from cluster_init.environment import Environment

REQUIRED = ("auth_url", "username", "password", "project_name")
PLACEHOLDER = "CHANGE-ME"
SECRET_KEYS = ("password", "token", "application_credential_secret", "secret")


@contextmanager
def connection(env: Environment, cloud: str | None) -> Iterator[Connection]:
    """A connection from clouds.yaml's `cloud` when given, else from the environment's secrets; closed after."""
    import warnings

    import openstack

    # openstacksdk's deprecation notices are for its callers' code, not for the user of a command
    for category in (DeprecationWarning, PendingDeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module="openstack")

    with _ca_file(env if cloud is None else None) as cacert:
        conn = _from_clouds_yaml(cloud) if cloud else openstack.connect(**_from_secrets(env, cacert))
        try:
            yield conn
        finally:
            conn.close()


def _from_secrets(env: Environment, cacert: str | None) -> dict[str, Any]:
    """openstacksdk's arguments from `secrets.openstack`, as the chart writes them into CAPO's clouds.yaml."""
    given = _openstack_secrets(env)
    problems = [_problem(env, key, "is missing", f"set secrets.openstack.{key}") for key in REQUIRED
                if not str(given.get(key) or "").strip()]
    problems += [_problem(env, key, f"is still the placeholder {PLACEHOLDER}...", f"set secrets.openstack.{key}")
                 for key in given if str(given[key]).startswith(PLACEHOLDER)]
    if problems:
        raise InputError(problems)
    auth = {k: str(given[k]) for k in (*REQUIRED, "user_domain_name", "project_domain_name") if given.get(k)}
    return {"load_yaml_config": False, "load_envvars": False, "auth_type": "password", "auth": auth,
            "region_name": str(given.get("region_name") or "RegionOne"), "interface": "public",
            "identity_api_version": "3", **({"cacert": cacert} if cacert else {})}


def _openstack_secrets(env: Environment) -> dict[str, Any]:
    block = env.secrets.data.get("secrets", {})
    block = block.get("openstack") if isinstance(block, dict) else None
    if not isinstance(block, dict):
        raise InputError([Problem(env.secrets.at(("secrets",)), "secrets.openstack", "is missing",
                                  "give the OpenStack credentials CAPO uses there, or pass --os-cloud NAME")])
    return block


def _problem(env: Environment, key: str, what: str, fix: str) -> Problem:
    return Problem(env.secrets.at(("secrets", "openstack", key)), f"secrets.openstack.{key}", what,
                   f"{fix}, or pass --os-cloud NAME to use a clouds.yaml")


@contextmanager
def _ca_file(env: Environment | None) -> Iterator[str | None]:
    """secrets.openstack.ca_cert (PEM text, as the chart takes it) in a private file for the session's TLS."""
    pem = str(_openstack_secrets(env).get("ca_cert") or "") if env is not None else ""
    if not pem.strip():
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="cluster-init-") as folder:
        path = os.path.join(folder, "ca.pem")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600), "w", encoding="utf-8") as f:
            f.write(pem)
        yield path


def _from_clouds_yaml(cloud: str) -> Connection:
    """The cloud `cloud` of clouds.yaml (OS_CLIENT_CONFIG_FILE, else openstacksdk's usual places)."""
    import openstack
    from openstack import exceptions

    try:
        conn = openstack.connect(cloud=cloud)
    except exceptions.ConfigException as e:
        where = os.environ.get("OS_CLIENT_CONFIG_FILE") or "clouds.yaml"
        raise InputError([Problem(where, f"clouds.{cloud}", f"cannot be used: {str(e)[:200]}",
                                  "name a cloud of that file with --os-cloud, or set OS_CLIENT_CONFIG_FILE")]) from None
    output.protect(_secret_values(conn.config.config.get("auth") or {}))
    return conn


def _secret_values(auth: dict[str, Any]) -> list[str]:
    return [str(v) for k, v in auth.items() if any(s in k for s in SECRET_KEYS) and v]
