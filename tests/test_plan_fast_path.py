"""T0: `plan` starts helm from a guess of its command line; a wrong guess must never change the answer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster_init import early_render, tools
from cluster_init.early_render import Target
from tests.conftest import ROOT, Result

pytestmark = pytest.mark.t0

ENV = "environment-values/kubeadm-capd"


@pytest.mark.parametrize(("argv", "expected"), [
    (["plan", ENV], Target(ENV, "bootstrap", "cluster-init")),
    (["plan", f"./{ENV}/", "--context", "management"], Target(ENV, "management", "cluster-init")),
    (["plan", "--context=management", "-n", "ops", ENV, "-o", "json"], Target(ENV, "management", "ops")),
    (["plan", ENV, "--namespace=ops", "--output=dot"], Target(ENV, "bootstrap", "ops")),
])
def test_guess_reads_a_plain_plan_command_line(argv: list[str], expected: Target) -> None:
    assert early_render.guess(argv) == expected


@pytest.mark.parametrize("argv", [
    ["validate", ENV],
    ["plan"],
    ["plan", ENV, ENV],
    ["plan", "--help"],
    ["plan", "--cont", "management", ENV],  # an abbreviation only argparse knows
    ["plan", "-omjson", ENV],
])
def test_guess_declines_what_it_cannot_read_for_sure(argv: list[str]) -> None:
    assert early_render.guess(argv) is None


def test_an_abbreviated_option_plans_the_same(cli: Callable[..., Result]) -> None:
    plain = cli("plan", str(ROOT / ENV), "--context", "management", "-o", "json")
    abbreviated = cli("plan", "--cont", "management", str(ROOT / ENV), "-o", "json")
    assert plain.code == abbreviated.code == 0, abbreviated.err
    assert json.loads(abbreviated.out) == json.loads(plain.out)
    assert json.loads(plain.out)["context"] == "management"


def test_a_guess_argparse_disagrees_with_is_dropped(cli: Callable[..., Result],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """However the guess goes wrong, argparse's reading of the command line decides what is planned."""
    expected = cli("plan", str(ROOT / ENV), "--context", "management", "-o", "json")
    monkeypatch.setattr(early_render, "guess", lambda argv: Target(str(ROOT / ENV), "bootstrap", "cluster-init"))
    result = cli("plan", str(ROOT / ENV), "--context", "management", "-o", "json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == json.loads(expected.out)
    assert json.loads(result.out)["context"] == "management"


def test_a_tool_that_cannot_run_is_an_error_not_a_crash(cli: Callable[..., Result], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLUSTER_INIT_HELM", str(tmp_path))  # a directory: "executable", but not a program
    result = cli("plan", str(ROOT / ENV))
    assert result.code == 1
    assert f"is not installed at {tmp_path}" in result.err


def test_helm_started_on_files_the_kustomization_overrides_is_not_trusted(
        cli: Callable[..., Result], make_env: Callable[..., Path]) -> None:
    """values.yaml says kubeadm, but the kustomization patches the ConfigMap to rke2: rke2 wins."""
    env = make_env()
    with (env / "kustomization.yaml").open("a", encoding="utf-8") as f:
        f.write("patches:\n  - patch: |-\n      apiVersion: v1\n      kind: ConfigMap\n"
                "      metadata:\n        name: cluster-init-values\n      data:\n        values: |\n"
                "          cluster:\n            name: management-cluster\n            infra_provider: capd\n"
                "            bootstrap_provider: rke2\n            rke2:\n              cni: calico\n")
    result = cli("plan", str(env), "-o", "json")
    assert result.code == 0, result.err
    names = {unit["name"] for unit in json.loads(result.out)["units"]}
    assert "capi-bootstrap-rke2" in names
    assert "capi-bootstrap-kubeadm" not in names


def test_the_console_entry_keeps_exit_codes_and_output(make_env: Callable[..., Path]) -> None:
    """The installed command ends offline commands with os._exit: output must be complete, codes intact."""
    ok = subprocess.run([sys.executable, "-m", "cluster_init", "plan", str(ROOT / ENV), "-o", "json"],
                        capture_output=True, text=True, check=False)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["units"][0]["name"] == "cert-manager"
    bad = make_env(values="cluster:\n  infra_provider: vsphere\n")
    refused = subprocess.run([sys.executable, "-m", "cluster_init", "plan", str(bad)],
                             capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "cluster.infra_provider" in refused.stderr


def test_go_tools_run_without_collector_unless_the_user_tuned_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOGC", raising=False)
    monkeypatch.delenv("GOMEMLIMIT", raising=False)
    assert tools.child_env()["GOGC"] == "off"
    assert tools.child_env()["GOMEMLIMIT"] == "512MiB"
    monkeypatch.setenv("GOGC", "200")
    assert tools.child_env()["GOGC"] == "200"
    assert "GOMEMLIMIT" not in tools.child_env()
