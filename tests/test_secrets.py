"""T0: a canary secret never appears in the output of validate, plan or render, even in errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import Result

pytestmark = pytest.mark.t0

CANARY = "canary-5d41402abc4b2a76b9719d911017c592"


def capo_env(make_env: Callable[..., Path], auth_url: str = "https://keystone.test/v3") -> Path:
    secrets = f"""\
        secrets:
          openstack:
            auth_url: "{auth_url}"
            username: admin
            password: "{CANARY}"
            project_name: {CANARY}-project
            user_domain_name: Default
            project_domain_name: Default
        """
    return make_env("kubeadm-capo", secrets=secrets)


@pytest.mark.parametrize("args", [
    ["validate"], ["plan"], ["plan", "-o", "json"], ["plan", "-o", "dot"],
    ["render"], ["render", "--context", "management"],
])
def test_canary_never_printed(cli: Callable[..., Result], make_env: Callable[..., Path], args: list[str]) -> None:
    env = capo_env(make_env)
    result = cli(args[0], str(env), *args[1:])
    assert result.code == 0, result.err
    assert CANARY not in result.out + result.err


def test_render_masks_every_secret_but_keeps_its_keys(cli: Callable[..., Result],
                                                      make_env: Callable[..., Path]) -> None:
    import yaml

    result = cli("render", str(capo_env(make_env)))
    secrets = [d for d in yaml.safe_load_all(result.out) if d and d["kind"] == "Secret"]
    assert {s["metadata"]["name"] for s in secrets} == {"cluster-init-secrets", "cluster-init-secret-vars"}
    for secret in secrets:
        assert "data" not in secret
        assert set(secret["stringData"].values()) == {"*** masked by cluster-init ***"}
    assert "OPENSTACK_CLOUDS_YAML_B64" in next(s for s in secrets if s["metadata"]["name"] ==
                                               "cluster-init-secret-vars")["stringData"]


@pytest.mark.parametrize("command", ["validate", "plan", "render"])
def test_canary_not_echoed_by_a_bad_secret(cli: Callable[..., Result], make_env: Callable[..., Path],
                                           command: str) -> None:
    env = capo_env(make_env, auth_url=f"keystone-{CANARY}")
    result = cli(command, str(env))
    assert result.code == 2
    assert "secrets.openstack.auth_url" in result.err
    assert CANARY not in result.out + result.err


def test_a_git_secret_ref_with_its_credentials_is_valid(cli: Callable[..., Result],
                                                        make_env: Callable[..., Path]) -> None:
    """The other side of the bad-input case: `source.secret_ref` with `secrets.source` set passes."""
    env = make_env(secrets="secrets:\n  source: {username: reader, password: not-shown}\n")
    with (env / "values.yaml").open("a") as values:
        values.write("source: {url: 'https://git.test/x.git', ref: refs/heads/main, secret_ref: git-auth}\n")
    result = cli("validate", str(env))
    assert result.code == 0, result.err
    assert "not-shown" not in result.out + result.err
