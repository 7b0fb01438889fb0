"""T0: the in-cluster pivot as the bundle ships it (the pivot unit's Job, the `pivoted` switch of the chart,
the management release reading it, the cluster definitions Flux never prunes) and the in-cluster config the
Job's process runs with."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_init import flux, pins, tools
from cluster_init.kube import KubeConfig, KubeconfigError, config
from tests.conftest import ENVIRONMENTS, ROOT, Result

pytestmark = pytest.mark.t0

JSON = dict[str, Any]


def rendered(cli: Callable[..., Result], env: Path, context: str) -> list[JSON]:
    result = cli("render", str(env), "--context", context)
    assert result.code == 0, result.err
    return [d for d in yaml.safe_load_all(result.out) if d]


def variables(objects: list[JSON]) -> dict[str, str]:
    data: dict[str, str] = next(o["data"] for o in objects if o["metadata"]["name"] == "cluster-init-vars")
    return data


def built(folder: str, values: dict[str, str]) -> list[JSON]:
    """A component as Flux applies it: kustomize build, then post-build substitution."""
    result = tools.run("kustomize", ["build", str(ROOT / "kustomize-components" / folder)])
    assert result.returncode == 0, result.stderr
    return [flux.substitute_strings(d, values) for d in yaml.safe_load_all(result.stdout) if d]


def units(cli: Callable[..., Result], env: Path, context: str) -> set[str]:
    result = cli("plan", str(env), "--context", context, "-o", "json")
    assert result.code == 0, result.err
    return {u["name"] for u in json.loads(result.out)["units"]}


def pivoted_env(make_env: Callable[..., Path], base: str = "kubeadm-capd") -> Path:
    text = (ROOT / "environment-values" / base / "values.yaml").read_text()
    return make_env(base, values=text + "\npivoted: true\n")


# -- the Job ---------------------------------------------------------------------------------------------------


def test_the_pivot_job_runs_the_cluster_init_image_with_the_backup_and_the_mark(cli: Callable[..., Result]) -> None:
    values = variables(rendered(cli, ROOT / "environment-values" / "kubeadm-capd", "bootstrap"))
    pin = pins.upstream("cluster-init")
    assert values["CLUSTER_INIT_IMAGE"] == f"{pin['image_registry']}/cluster-init:{pin['version']}"
    job = next(o for o in built("pivot", values) if o["kind"] == "Job")
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == values["CLUSTER_INIT_IMAGE"]
    ns, cluster = values["CLUSTER_INIT_NAMESPACE"], values["CLUSTER_NAME"]
    assert container["args"] == ["pivot", f"--namespace={ns}", f"--to-kubeconfig-secret={cluster}-kubeconfig",
                                 "--backup-secret=cluster-init-pivot-backup",
                                 "--suspend-kustomization=management-cluster", "--mark-pivoted=cluster-init-pivoted",
                                 "--report-job=cluster-init-pivot", "--wait-for-providers=1200"]
    assert not any("--from-kubeconfig" in a for a in container["args"])  # the service account is the source
    assert "volumes" not in pod or all("secret" not in v for v in pod["volumes"])  # the kubeconfig moves away
    # exit 1 (resumable) retries in a new pod; exit 2 (refused) fails the Job at once; evictions do not count
    assert pod["restartPolicy"] == "Never" and 1 <= job["spec"]["backoffLimit"] <= 10
    rules = job["spec"]["podFailurePolicy"]["rules"]
    assert {"action": "FailJob", "onExitCodes": {"containerName": "pivot", "operator": "In", "values": [2]}} in rules
    assert pod["securityContext"]["runAsNonRoot"] is True


def test_the_image_follows_an_override(cli: Callable[..., Result], make_env: Callable[..., Path]) -> None:
    text = (ROOT / "environment-values" / "kubeadm-capd" / "values.yaml").read_text()
    env = make_env(values=text + "\nupstreams:\n  cluster-init: {image_registry: mirror.example/ci, version: v9.9.9}\n")
    assert variables(rendered(cli, env, "bootstrap"))["CLUSTER_INIT_IMAGE"] == "mirror.example/ci/cluster-init:v9.9.9"


def test_the_image_version_is_the_chart_app_version() -> None:
    chart = yaml.safe_load((ROOT / "charts" / "telco-cloud-init" / "Chart.yaml").read_text())
    assert pins.upstream("cluster-init")["version"] == f"v{chart['appVersion']}"


def test_the_dockerfile_installs_the_package_without_dev_extras() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE=" in text and "ARG PIP_ARGS" in text and 'ENTRYPOINT ["cluster-init"]' in text
    assert "USER 65532" in text and "[dev]" not in text


# -- the pivoted switch ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_cluster_definitions_run_on_the_management_cluster_exactly_when_pivoted(
        cli: Callable[..., Result], make_env: Callable[..., Path], env_name: str) -> None:
    plain = ROOT / "environment-values" / env_name
    pivoted = pivoted_env(make_env, env_name)
    assert "management-cluster" not in units(cli, plain, "management")
    assert "management-cluster" in units(cli, pivoted, "management")
    assert "management-cluster" in units(cli, plain, "bootstrap")
    assert units(cli, pivoted, "bootstrap") == units(cli, plain, "bootstrap")


def test_pivoted_management_cluster_unit_applies_locally(cli: Callable[..., Result],
                                                         make_env: Callable[..., Path]) -> None:
    objects = rendered(cli, pivoted_env(make_env), "management")
    unit = next(o for o in objects if o["kind"] == "Kustomization" and o["metadata"]["name"] == "management-cluster")
    assert unit["metadata"]["annotations"]["cluster-init/target"] == "management"
    assert "kubeConfig" not in unit["spec"]


def test_the_values_copy_keeps_the_unit_and_never_says_pivoted(cli: Callable[..., Result],
                                                                make_env: Callable[..., Path]) -> None:
    copy = json.loads(json.loads(variables(rendered(cli, pivoted_env(make_env), "bootstrap"))
                                 ["CLUSTER_INIT_VALUES_JSON"]))
    assert "pivoted" not in copy and copy["units"]["management-cluster"]["after_pivot"] is True
    assert "pivot" not in copy["units"]


def test_the_management_release_reads_the_pivot_mark() -> None:
    """The ConfigMap the Job writes (cluster_init.pivot.job.mark_pivoted) is the release's last values layer. The
    first install does not wait for the units (or the upgrade the mark starts would wait for it); upgrades do."""
    release = next(o for o in built("telco-cloud-init/management-before-pivot", {"CLUSTER_INIT_NAMESPACE": "ci"})
                   if o["kind"] == "HelmRelease")
    assert release["spec"]["valuesFrom"][-1] == {"kind": "ConfigMap", "name": "cluster-init-pivoted",
                                                 "valuesKey": "values", "optional": True}
    assert release["spec"]["install"]["disableWait"] is True
    assert not release["spec"]["upgrade"].get("disableWait")


@pytest.mark.parametrize("pair", ["capd-kubeadm", "capd-rke2", "capo-kubeadm", "capo-rke2"])
def test_flux_never_prunes_the_management_cluster_itself(pair: str) -> None:
    objects = built(f"management-cluster/{pair}", {})
    kept = {o["kind"] for o in objects
            if (o["metadata"].get("annotations") or {}).get("kustomize.toolkit.fluxcd.io/prune") == "disabled"}
    assert {"Cluster", "DockerCluster" if pair.startswith("capd") else "OpenStackCluster",
            "KubeadmControlPlane" if pair.endswith("kubeadm") else "RKE2ControlPlane"} <= kept
    assert len(kept) == len({o["kind"] for o in objects})  # all of the pair's objects (workers come later)


# -- in-cluster config ------------------------------------------------------------------------------------------


@pytest.fixture
def service_account(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A pod's environment: the service account's files, the API server's address, no kubeconfig."""
    folder = tmp_path / "serviceaccount"
    folder.mkdir()
    (folder / "token").write_text("token-one\n")
    (folder / "ca.crt").write_bytes(b"-----BEGIN CERTIFICATE-----\nnot checked here\n-----END CERTIFICATE-----\n")
    monkeypatch.setattr(config, "SERVICE_ACCOUNT_DIR", folder)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return folder


def test_in_cluster_config_when_no_kubeconfig_is_given(service_account: Path) -> None:
    cfg = KubeConfig.load()
    assert cfg.server == "https://10.96.0.1:443" and cfg.context == "in-cluster"
    assert cfg.token == "token-one" and cfg.ca_data and cfg.ca_data.startswith(b"-----BEGIN")


def test_the_rotated_token_is_read_again(service_account: Path) -> None:
    cfg = KubeConfig.load()
    assert cfg.current_token() == "token-one"
    token = service_account / "token"
    token.write_text("token-two-rotated\n")
    os.utime(token, ns=(token.stat().st_mtime_ns + 10**9,) * 2)
    assert cfg.current_token() == "token-two-rotated"


def test_a_kubeconfig_wins_over_the_service_account(service_account: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "clusters": [{"name": "c", "cluster": {"server": "https://elsewhere:6443"}}],
        "users": [{"name": "u", "user": {"token": "t"}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}], "current-context": "x"}))
    assert KubeConfig.load(kubeconfig).server == "https://elsewhere:6443"
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    assert KubeConfig.load().server == "https://elsewhere:6443"


def test_in_cluster_on_ipv6_and_without_a_token(service_account: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    assert KubeConfig.load().server == "https://[fd00::1]:443"
    (service_account / "token").unlink()
    assert not config.in_cluster_available()
    with pytest.raises(KubeconfigError, match="token"):
        KubeConfig.in_cluster()


# -- the command's in-cluster flags ----------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "says"), [
    (["--backup-secret", "b", "--to-kubeconfig", "k"], "need --namespace"),
    (["--mark-pivoted", "m", "--to-directory", "d", "-n", "ns"], "only go with a move"),
    (["--to-kubeconfig-secret", "s", "--to-kubeconfig", "k", "-n", "ns"], "exclusive with --to-kubeconfig"),
    (["--backup-secret", "Not_A_Name", "-n", "ns", "--to-kubeconfig", "k"], "is not an object name"),
])
def test_in_cluster_flags_are_checked_before_any_cluster_is_touched(cli: Callable[..., Result], args: list[str],
                                                                    says: str, tmp_path: Path) -> None:
    result = cli("pivot", *[str(tmp_path / a) if a in ("k", "d") else a for a in args])
    assert result.code == 2 and says in result.err
    assert "Traceback" not in result.err
