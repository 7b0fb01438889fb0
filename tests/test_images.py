"""T0: `cluster-init images`, the bill of materials, read from the rendered bundle and the pinned upstream trees.

The expected names are built from versions.yaml (pins and registries), never listed here, and checked against
what the upstream manifests say: an override in the environment's values must change them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from cluster_init import environment, images, pins, tools, upstream
from cluster_init.images import Artifact
from tests.conftest import ROOT, Result

pytestmark = pytest.mark.t0

UP = pins.pins()["upstreams"]
QUALIFIED = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+(:[0-9]+)?/[a-z0-9._/-]+(:[\w][\w.-]*|@sha256:[0-9a-f]{64})$")


def bom(env_dir: Path, contexts: tuple[str, ...] = images.CONTEXTS) -> dict[str, Artifact]:
    return {a.ref: a for a in images.bill_of_materials(environment.load(env_dir), contexts)}


@pytest.fixture(scope="module")
def kubeadm_capd() -> dict[str, Artifact]:
    return bom(ROOT / "environment-values" / "kubeadm-capd")


def image(upstream_name: str, name: str) -> str:
    return f"{UP[upstream_name]['image_registry']}/{name}:{UP[upstream_name]['version']}"


def test_cluster_api_images_at_the_pin_under_the_chart_registry(kubeadm_capd: dict[str, Artifact]) -> None:
    expected = {"cluster-api-controller": "capi-core", "kubeadm-bootstrap-controller": "capi-bootstrap-kubeadm",
                "kubeadm-control-plane-controller": "capi-controlplane-kubeadm", "capd-manager": "capi-infra-docker"}
    for name, unit in expected.items():
        found = kubeadm_capd[image("cluster-api", name)]
        assert (found.kind, found.units, found.contexts) == ("image", (unit,), ("bootstrap", "management"))
    # the pivot Job runs on the bootstrap cluster only
    pivot = [a for a in kubeadm_capd.values() if a.kind == "image" and a.units == ("pivot",)]
    assert [a.contexts for a in pivot] == [("bootstrap",)]


def test_cert_manager_images_and_chart_at_the_pin(kubeadm_capd: dict[str, Artifact]) -> None:
    for name in ("controller", "webhook", "cainjector", "acmesolver"):  # acmesolver: a controller flag
        assert kubeadm_capd[image("cert-manager", f"cert-manager-{name}")].units == ("cert-manager",)
    cm = UP["cert-manager"]
    chart = kubeadm_capd[f"{cm['url']}/{cm['chart']}:{cm['version']}"]
    assert (chart.kind, chart.upstream, chart.version) == ("chart", "cert-manager", cm["version"])


def test_flux_controllers_on_both_clusters(kubeadm_capd: dict[str, Artifact]) -> None:
    """Versions read from flux2's manifests agree with the controller versions pinned for the twin's CRDs."""
    for name, version in pins.pins()["twin"]["flux-controllers"].items():
        found = kubeadm_capd[f"{UP['flux']['image_registry']}/{name}:{version}"]
        assert found.units == (images.CLI, "management-cluster-flux")
        assert found.contexts == ("bootstrap", "management")


def test_node_images_and_sources(kubeadm_capd: dict[str, Artifact]) -> None:
    node = kubeadm_capd[images.qualified(f"{UP['kind-node']['url']}:{UP['kubernetes']['version']}")]
    assert node.units == ("management-cluster",) and node.contexts == ("bootstrap", "management")
    load_balancer = [a for ref, a in kubeadm_capd.items() if "/haproxy:" in ref]  # CAPD's, named or its default
    assert [a.units for a in load_balancer] == [("management-cluster",)]
    capi = kubeadm_capd[f"{UP['cluster-api']['url']}@{UP['cluster-api']['version']}"]
    assert (capi.kind, capi.upstream, capi.version) == ("source", "cluster-api", UP["cluster-api"]["version"])
    assert {"capi-core", "capi-infra-docker"} <= set(capi.units)
    flux = kubeadm_capd[f"{UP['flux']['url']}:{UP['flux']['version']}"]
    assert flux.units == ("management-cluster-flux",) and flux.contexts == ("bootstrap",)


def test_every_image_is_named_as_containerd_reports_it(kubeadm_capd: dict[str, Artifact]) -> None:
    refs = [a.ref for a in kubeadm_capd.values() if a.kind == "image"]
    assert refs and all(QUALIFIED.match(ref) for ref in refs), [r for r in refs if not QUALIFIED.match(r)]
    assert images.qualified("kindest/node:v1") == "docker.io/kindest/node:v1"
    assert images.qualified("controller") == "docker.io/library/controller:latest"
    assert images.qualified("localhost:5000/x/y:v2") == "localhost:5000/x/y:v2"


def test_an_override_in_the_values_renames_the_images(make_env: Callable[..., Path]) -> None:
    env = make_env("kubeadm-capd", values="""\
        cluster: {name: management-cluster, infra_provider: capd, bootstrap_provider: kubeadm}
        upstreams:
          cluster-api: {image_registry: mirror.example:5000/capi, version: v1.14.1}
          flux: {image_registry: mirror.example:5000/flux}
        """)
    found = bom(env)
    assert "mirror.example:5000/capi/cluster-api-controller:v1.14.1" in found
    assert "mirror.example:5000/capi/capd-manager:v1.14.1" in found
    assert not [ref for ref in found if ref.startswith(UP["cluster-api"]["image_registry"])]
    source_controller = pins.pins()["twin"]["flux-controllers"]["source-controller"]
    assert found[f"mirror.example:5000/flux/source-controller:{source_controller}"].contexts == (
        "bootstrap", "management")


def test_rke2_capo_lists_its_providers_and_not_capd() -> None:
    found = bom(ROOT / "environment-values" / "rke2-capo")
    for ref in (image("cluster-api-provider-rke2", "cluster-api-provider-rke2-bootstrap"),
                image("cluster-api-provider-rke2", "cluster-api-provider-rke2-controlplane"),
                image("cluster-api-provider-openstack", "capi-openstack-controller"),
                image("openstack-resource-controller", "openstack-resource-controller"),
                image("cluster-api", "cluster-api-controller")):
        assert ref in found, ref
    assert not [ref for ref in found if "capd-manager" in ref or "kindest/" in ref or "kubeadm-" in ref]


def test_one_context(kubeadm_capd: dict[str, Artifact]) -> None:
    found = bom(ROOT / "environment-values" / "kubeadm-capd", ("management",))
    assert not [a for a in found.values() if "pivot" in a.units]  # the pivot Job runs on the bootstrap cluster
    assert all(a.contexts == ("management",) for a in found.values())
    assert set(found) < set(kubeadm_capd)


def test_json_and_text(cli: Callable[..., Result]) -> None:
    result = cli("images", "environment-values/kubeadm-capd", "-o", "json")
    assert result.code == 0, result.err
    data = json.loads(result.out)
    assert {tuple(sorted(d)) for d in data} == {("contexts", "kind", "ref", "units", "upstream", "version")}
    assert {d["kind"] for d in data} == {"image", "chart", "source"}
    text = cli("images", "environment-values/kubeadm-capd", "--context", "bootstrap")
    assert text.code == 0 and "IMAGES (" in text.out and "SOURCES (" in text.out
    line = next(li for li in text.out.splitlines() if "cluster-api-controller" in li)
    assert line.split()[-1] == "capi-core"


@pytest.mark.parametrize(("args", "expected"), [
    (("no-such-dir",), "no such environment directory"),
    (("environment-values/kubeadm-capd", "--context", "workload"), "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(cli: Callable[..., Result], args: tuple[str, ...], expected: str) -> None:
    result = cli("images", *args)
    assert result.code == 2 and expected in result.err and result.out == ""
    assert len([line for line in result.err.splitlines() if "error:" in line]) == 1


def test_bad_values_exit_2(cli: Callable[..., Result], make_env: Callable[..., Path]) -> None:
    env = make_env("kubeadm-capd", values="cluster: {infra_provider: vsphere}\n")
    result = cli("images", str(env))
    assert result.code == 2 and "infra_provider" in result.err and result.out == ""


def test_unreachable_proxy_says_which_url_and_what_to_do(cli: Callable[..., Result], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    for tool in ("helm", "kustomize"):
        monkeypatch.setenv(f"CLUSTER_INIT_{tool.upper()}", tools.tool_path(tool))
    monkeypatch.setenv("CLUSTER_INIT_CACHE", str(tmp_path))  # nothing cached
    monkeypatch.setenv("GOPROXY", "direct,http://127.0.0.1:9|off")
    result = cli("images", "environment-values/kubeadm-capd")
    assert result.code == 1 and result.out == ""
    assert len(result.err.strip().splitlines()) == 1
    assert "http://127.0.0.1:9/github.com/fluxcd/flux2/v2/@v/" in result.err and "GOPROXY" in result.err


def test_module_proxy_protocol() -> None:
    assert upstream.escape("github.com/Azure/go-autorest") == "github.com/!azure/go-autorest"
    path = upstream.repository_path("cluster-api", UP["cluster-api"]["module"], UP["cluster-api"]["version"],
                                    "./test/infrastructure/docker/config/default")
    assert path.parent.name == "config" and (path / "kustomization.yaml").is_file()
    assert "cluster-api!" not in str(path) and "/sigs.k8s.io/cluster-api/test@" in str(path)
