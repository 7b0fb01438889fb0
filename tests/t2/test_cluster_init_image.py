"""T2: the cluster-init image the pivot Job runs, built here from the repository's Dockerfile with no index
reachable from the build (testenv/stack/product.py), starts with no network, as its unprivileged user, on a
read-only root filesystem (as the Job runs it), and is served by the local registry under the chart's name."""

from __future__ import annotations

import subprocess
import urllib.request

import pytest

from testenv.stack import host, product, registry

pytestmark = pytest.mark.t2


@pytest.fixture(scope="module")
def image() -> str:
    host.ensure_host()
    return product.image()


def docker_run(image: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", "run", "--rm", "--network", "none", "--read-only", "--user", "65532:65532",
                           image, *args], capture_output=True, text=True, timeout=60, check=False)


def test_the_entry_point_runs_with_no_network(image: str) -> None:
    result = docker_run(image, "--help")
    assert result.returncode == 0, result.stderr
    assert "pivot" in result.stdout


def test_the_pivot_command_and_its_in_cluster_flags(image: str) -> None:
    result = docker_run(image, "pivot", "--help")
    assert result.returncode == 0, result.stderr
    for flag in ("--to-kubeconfig-secret", "--backup-secret", "--mark-pivoted", "--suspend-kustomization"):
        assert flag in result.stdout


def test_bad_input_is_one_line_and_exit_2(image: str) -> None:
    result = docker_run(image, "pivot", "--backup-secret", "b")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr


def test_runs_as_non_root_by_default(image: str) -> None:
    user = subprocess.run(["docker", "image", "inspect", "--format", "{{.Config.User}}", image], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert user and not user.startswith(("0", "root"))


def test_served_by_the_local_registry_under_the_chart_name(image: str) -> None:
    registry.push([image])
    path = registry.mirror_path(image).replace(":", "/manifests/", 1)
    request = urllib.request.Request(f"http://127.0.0.1:{registry.HOST_PORT}/v2/{path}", method="HEAD", headers={
        "Accept": "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200
