"""T0: the chart renders for every environment and context, and the unit graph is sound."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_init import flux, pins, tools
from tests.conftest import CONTEXTS, ENVIRONMENTS, ROOT, Result

pytestmark = pytest.mark.t0

BOOTSTRAP_ONLY = {"management-cluster-configs", "management-cluster-flux", "telco-cloud-init-management", "pivot"}
DOCKER_UNITS = {"capi-infra-docker"}
OPENSTACK_UNITS = {"capi-infra-openstack", "openstack-resource-controller"}
KUBEADM_UNITS = {"capi-bootstrap-kubeadm", "capi-controlplane-kubeadm"}
RKE2_UNITS = {"capi-bootstrap-rke2", "capi-controlplane-rke2"}


def plan(cli: Callable[..., Result], env: str, context: str) -> dict[str, Any]:
    result = cli("plan", str(ROOT / "environment-values" / env), "--context", context, "-o", "json")
    assert result.code == 0, result.err
    data: dict[str, Any] = json.loads(result.out)
    return data


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_units_follow_providers_and_context(cli: Callable[..., Result], env: str, context: str) -> None:
    data = plan(cli, env, context)
    names = {u["name"] for u in data["units"]}
    bootstrap, infra = env.split("-")
    assert data["context"] == context
    assert {"cert-manager", "capi-core"} <= names
    assert (names >= KUBEADM_UNITS) == (bootstrap == "kubeadm")
    assert (names >= RKE2_UNITS) == (bootstrap == "rke2")
    assert not names & (RKE2_UNITS if bootstrap == "kubeadm" else KUBEADM_UNITS)
    assert not names & (OPENSTACK_UNITS if infra == "capd" else DOCKER_UNITS)
    assert (DOCKER_UNITS if infra == "capd" else OPENSTACK_UNITS) <= names
    if context == "bootstrap":
        assert BOOTSTRAP_ONLY | {"management-cluster"} <= names
    else:
        assert not names & (BOOTSTRAP_ONLY | {"management-cluster"})
        assert {u["target"] for u in data["units"]} == {"management"}


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_apply_order_respects_every_dependency(cli: Callable[..., Result], env: str, context: str) -> None:
    units = plan(cli, env, context)["units"]
    position = {u["name"]: i for i, u in enumerate(units)}
    for unit in units:
        for dep in unit["depends_on"] + unit["after_applied"]:
            assert dep in position, f"{unit['name']} depends on {dep}, which is not enabled"
            assert position[dep] < position[unit["name"]]


def test_each_applied_dependency_names_a_kustomization_of_that_unit() -> None:
    """`after_applied: {unit: kustomization}` waits for that Kustomization's inventory: a name the unit does not
    apply would hold its dependents forever, so each must be the unit's own or a child its component applies."""
    from cluster_init import environment, values

    units = values.merged(environment.load(ROOT / "environment-values" / "kubeadm-capd"), "bootstrap")["units"]
    pairs = [(dep, child) for unit in units.values() for dep, child in (unit.get("after_applied") or {}).items()]
    assert ("capi-core", "capi-core-components") in pairs
    assert ("management-cluster-flux", "management-cluster-flux-install") in pairs
    for dep, child in pairs:
        applied = {o["metadata"]["name"] for o in built(units[dep]["path"].removeprefix("./kustomize-components/"), {})
                   if o["kind"] == "Kustomization"}
        assert child == dep or child in applied, (dep, child, applied)


def test_providers_start_once_the_core_crds_are_applied(cli: Callable[..., Result], tmp_path: Path) -> None:
    """capi-core starts once cert-manager's release is applied and its child retries every 2 s until cert-manager's
    webhook answers; a provider starts once that child has applied the core CRDs (so cert-manager answered),
    through Flux's readyExpr on the child's inventory, not once the core is healthy. A provider unit is applied at
    once and hands these waits to its child (its `child`), which starts without the unit's reconcile in between."""
    result = cli("render", str(ROOT / "environment-values" / "kubeadm-capd"), "--context", "bootstrap")
    assert result.code == 0, result.err
    units = {o["metadata"]["name"]: o for o in yaml.safe_load_all(result.out)
             if o and o.get("kind") == "Kustomization" and "cluster-init/unit" in o["metadata"].get("labels", {})}
    applied = "has(dep.status) && has(dep.status.inventory)"

    def child_waits(unit: str) -> list[dict[str, str]]:
        assert "dependsOn" not in units[unit]["spec"], unit
        child = next(o for o in built_by_flux(units[unit], tmp_path) if o["kind"] == "Kustomization")
        assert child["metadata"]["name"] == f"{unit}-components"
        waits: list[dict[str, str]] = child["spec"]["dependsOn"]
        return waits

    assert child_waits("capi-core") == [{"name": "cert-manager", "readyExpr": applied}]
    for name in ("capi-bootstrap-kubeadm", "capi-infra-docker"):
        assert child_waits(name) == [{"name": "capi-core-components", "readyExpr": applied}]
        assert units[name]["metadata"]["annotations"]["cluster-init/after-applied"] == "capi-core"
    # The control plane's manager exits at start without the bootstrap provider's CRDs (clusterctl's order).
    assert child_waits("capi-controlplane-kubeadm") == [
        {"name": "capi-bootstrap-kubeadm-components", "readyExpr": applied},
        {"name": "capi-core-components", "readyExpr": applied}]
    # The cluster definitions (no child): once every provider's manifests (webhook configurations included) are
    # applied, retried every 2 s until the webhooks answer.
    assert units["management-cluster"]["spec"]["dependsOn"] == [
        {"name": f"{name}-components", "readyExpr": applied}
        for name in ("capi-bootstrap-kubeadm", "capi-controlplane-kubeadm", "capi-core", "capi-infra-docker")]
    assert units["management-cluster"]["spec"]["retryInterval"] == "2s"
    child = next(o for o in built("capi-core", {}) if o["kind"] == "Kustomization")
    assert child["spec"]["retryInterval"] == "2s"


def test_each_units_child_is_a_kustomization_its_folder_applies() -> None:
    """A unit's `after_applied` waits go onto its `child` by a patch, and a patch that matches nothing drops
    them: every `child` the chart names must be what the unit's folder builds."""
    units = yaml.safe_load((ROOT / "charts" / "telco-cloud-init" / "values.yaml").read_text())["units"]
    children = {name: u["child"] for name, u in units.items() if u.get("child")}
    assert children, "no unit names its child"
    for name, child in children.items():
        folder = units[name]["path"].removeprefix("./kustomize-components/")
        names = [o["metadata"]["name"] for o in built(folder, {}) if o["kind"] == "Kustomization"]
        assert names == [child], (name, names)


def test_management_side_units_use_the_kubeconfig(cli: Callable[..., Result]) -> None:
    units = {u["name"]: u for u in plan(cli, "kubeadm-capd", "bootstrap")["units"]}
    assert units["management-cluster-configs"]["target"] == "management"
    assert units["telco-cloud-init-management"]["target"] == "management"
    assert units["management-cluster"]["target"] == "bootstrap"
    remote = {name for name, u in units.items() if u["target"] == "management"}
    assert remote == {"cni", "management-cluster-configs", "management-cluster-flux", "telco-cloud-init-management"}
    # The pivot starts once the release there is applied; its Job waits for the providers it installs
    # (--wait-for-providers) and suspends these units before the move takes the kubeconfig Secret they all use
    # (tests/test_pivot_job.py, tests/t1/test_pivot_job.py).
    assert set(units["pivot"]["depends_on"]) == remote - {"telco-cloud-init-management"}
    assert units["pivot"]["after_applied"] == ["telco-cloud-init-management"]
    assert units["management-cluster"]["path"] == "./kustomize-components/management-cluster/capd-kubeadm"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_kubeadm_management_clusters_get_a_cni_beside_flux(cli: Callable[..., Result], env: str) -> None:
    """kubeadm nodes stay NotReady without a CNI: the cni unit runs against the management cluster as soon as it
    exists, beside Flux's (whose pods, and so the pivot after it, wait for Ready nodes), and on its own release
    keeps running there. RKE2 ships its own."""
    bootstrap = {u["name"]: u for u in plan(cli, env, "bootstrap")["units"]}
    management = {u["name"]: u for u in plan(cli, env, "management")["units"]}
    assert bootstrap["management-cluster-flux"]["depends_on"] == ["management-cluster"]
    if env.startswith("rke2"):
        assert "cni" not in bootstrap and "cni" not in management
        return
    assert bootstrap["cni"]["target"] == management["cni"]["target"] == "management"
    assert bootstrap["cni"]["depends_on"] == ["management-cluster"] and management["cni"]["depends_on"] == []
    assert bootstrap["cni"]["path"] == "./kustomize-components/cni-kube-router"


def test_after_the_pivot_the_management_cni_waits_for_nothing(cli: Callable[..., Result], tmp_path: Path) -> None:
    """The pivot's mark (`pivoted: true`) brings the cluster definitions unit to the management cluster. The cni
    unit there keeps no dependency on it: it would change the unit and hold its re-apply, and bootstrap's check
    after the pivot with it, until the cluster it runs on is reported Ready."""
    shutil.copytree(ROOT / "environment-values" / "kubeadm-capd", tmp_path / "env")
    with (tmp_path / "env" / "values.yaml").open("a") as values:
        values.write("pivoted: true\n")
    result = cli("plan", str(tmp_path / "env"), "--context", "management", "-o", "json")
    assert result.code == 0, result.err
    units = {u["name"]: u for u in json.loads(result.out)["units"]}
    assert "management-cluster" in units
    assert units["cni"]["depends_on"] == []


def built_by_flux(unit: dict[str, Any], work: Path) -> list[dict[str, Any]]:
    """A unit's folder built with the unit's own components and patches, as kustomize-controller builds it."""
    spec = unit["spec"]
    folder = ROOT / spec["path"]
    kustomization: dict[str, Any] = {"resources": [os.path.relpath(folder, work)], "patches": spec.get("patches", [])}
    if spec.get("components"):
        kustomization["components"] = [os.path.relpath(folder / c, work) for c in spec["components"]]
    (work / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    result = tools.run("kustomize", ["build", str(work)])
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def built(folder: str, variables: dict[str, str]) -> list[dict[str, Any]]:
    """A component built with kustomize and substituted as Flux does it."""
    result = tools.run("kustomize", ["build", str(ROOT / "kustomize-components" / folder)])
    assert result.returncode == 0, result.stderr
    return [flux.substitute_strings(d, variables) for d in yaml.safe_load_all(result.stdout) if d]


def test_images_the_bundle_names_follow_the_pins_and_overrides(cli: Callable[..., Result],
                                                              make_env: Callable[..., Path]) -> None:
    """CAPD's load balancer and kube-router are named by the bundle from versions.yaml, so a mirror serves them."""
    upstreams = pins.pins()["upstreams"]
    lb, router = upstreams["capd-load-balancer"], upstreams["kube-router"]
    mirror = make_env(values="""\
        cluster: {name: mgmt, infra_provider: capd, bootstrap_provider: kubeadm,
                  control_plane_replicas: 1, worker_replicas: 0}
        upstreams:
          capd-load-balancer: {image_registry: mirror.test:5000/kindest}
          kube-router: {image_registry: mirror.test:5000/cnl}
        """)
    for env, lb_registry, router_registry in (
            ("kubeadm-capd", lb["image_registry"], router["image_registry"]),
            (mirror, "mirror.test:5000/kindest", "mirror.test:5000/cnl")):
        variables = next(o for o in rendered(cli, env) if o["metadata"]["name"] == "cluster-init-vars")["data"]
        docker = next(o for o in built("management-cluster/capd-kubeadm", variables) if o["kind"] == "DockerCluster")
        assert docker["spec"]["loadBalancer"] == {"imageRepository": lb_registry, "imageTag": lb["version"]}
        daemonset = next(o for o in built("cni-kube-router", variables) if o["kind"] == "DaemonSet")
        pod = daemonset["spec"]["template"]["spec"]
        assert {c["image"] for c in pod["containers"] + pod["initContainers"]} == {
            f"{router_registry}/kube-router:{router['version']}"}


def rendered(cli: Callable[..., Result], env: Path | str, context: str = "bootstrap") -> list[dict[str, Any]]:
    result = cli("render", str(ROOT / "environment-values" / env), "--context", context)
    assert result.code == 0, result.err
    return [d for d in yaml.safe_load_all(result.out) if d]


@pytest.mark.parametrize("context", CONTEXTS)
@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_unit_kustomization_is_complete(cli: Callable[..., Result], env: str, context: str) -> None:
    objects = rendered(cli, env, context)
    units = [o for o in objects if o["kind"] == "Kustomization" and "cluster-init/unit" in o["metadata"]["labels"]]
    sources = {(o["kind"], o["metadata"]["name"]) for o in objects if o["apiVersion"].startswith("source.")}
    variables = next(o["data"] for o in objects if o["metadata"]["name"] == "cluster-init-vars")
    for unit in units:
        spec = unit["spec"]
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": "cluster-init"}  # the default source
        assert spec["prune"] in (True, False) and spec["wait"] is True and spec["timeout"]
        assert (ROOT / spec["path"]).is_dir(), spec["path"]
        assert [s["name"] for s in spec["postBuild"]["substituteFrom"]] == ["cluster-init-vars",
                                                                            "cluster-init-secret-vars"]
        remote = unit["metadata"]["name"] in {"management-cluster-configs", "telco-cloud-init-management", "cni"}
        assert ("kubeConfig" in spec) == (remote and context == "bootstrap")
        assert child_sources(ROOT / spec["path"], variables) <= sources, \
            f"{spec['path']} needs a source the chart lacks"


def child_sources(folder: Path, variables: dict[str, str]) -> set[tuple[str, str]]:
    """The Flux sources that a unit's child Kustomizations and HelmReleases point at (kinds substituted from
    the chart's variables, as Flux's post-build substitution does)."""
    built = tools.run("kustomize", ["build", str(folder)])
    assert built.returncode == 0, built.stderr
    found = set()
    for obj in yaml.safe_load_all(built.stdout):
        spec = (obj or {}).get("spec") or {}
        ref = spec.get("sourceRef") or ((spec.get("chart") or {}).get("spec") or {}).get("sourceRef")
        if ref and ref["name"] != "cluster-init":
            kind = ref["kind"]
            if kind.startswith("${"):
                kind = variables[kind.removeprefix("${").removesuffix("}")]
            found.add((kind, ref["name"]))
    return found


def test_workers_component_only_with_workers(cli: Callable[..., Result], make_env: Callable[..., Path]) -> None:
    def components(env: Path) -> list[str]:
        objects = rendered(cli, env)
        unit = next(o for o in objects if o["metadata"]["name"] == "management-cluster"
                    and o["kind"] == "Kustomization")
        found: list[str] = unit["spec"].get("components", [])
        return found

    assert components(ROOT / "environment-values" / "kubeadm-capd") == []
    values = (ROOT / "environment-values/rke2-capo/values.yaml").read_text().replace("worker_replicas: 0",
                                                                                    "worker_replicas: 2")
    env = make_env("rke2-capo", values=values)
    assert components(env) == ["../workers", "../workers-capo", "../workers-rke2", "../capo-root-volume"]
    (env / "values.yaml").write_text(values.replace("root_volume_size: 20", "root_volume_size: 0"))
    assert components(env) == ["../workers", "../workers-capo", "../workers-rke2"]


def test_upstream_sources_follow_the_pins_and_overrides(cli: Callable[..., Result],
                                                       make_env: Callable[..., Path]) -> None:
    upstreams = pins.pins()["upstreams"]
    objects = rendered(cli, "kubeadm-capd")
    capi = next(o for o in objects if o["kind"] == "GitRepository" and o["metadata"]["name"] == "cluster-api")
    assert capi["spec"]["url"] == upstreams["cluster-api"]["url"]
    assert capi["spec"]["ref"] == {"tag": upstreams["cluster-api"]["version"]}
    mirror = make_env(values="""\
        cluster: {name: mgmt, infra_provider: capd, bootstrap_provider: kubeadm,
                  control_plane_replicas: 1, worker_replicas: 0}
        upstreams:
          cluster-api: {url: https://git.mirror.test/capi.git, image_registry: mirror.test:5000/capi}
          cert-manager: {url: oci://mirror.test/charts}
        """)
    objects = rendered(cli, mirror)
    capi = next(o for o in objects if o["kind"] == "GitRepository" and o["metadata"]["name"] == "cluster-api")
    helm_repo = next(o for o in objects if o["kind"] == "HelmRepository")
    variables = next(o for o in objects if o["metadata"]["name"] == "cluster-init-vars")["data"]
    assert capi["spec"]["url"] == "https://git.mirror.test/capi.git"
    assert capi["spec"]["ref"] == {"tag": upstreams["cluster-api"]["version"]}
    assert helm_repo["spec"] == {"interval": "24h", "url": "oci://mirror.test/charts", "type": "oci"}
    assert variables["CLUSTER_API_IMAGE_REGISTRY"] == "mirror.test:5000/capi"


def test_values_copied_to_the_management_cluster_leave_out_bootstrap_parts(cli: Callable[..., Result]) -> None:
    objects = rendered(cli, "kubeadm-capo")
    variables = next(o for o in objects if o["metadata"]["name"] == "cluster-init-vars")["data"]
    copied = json.loads(json.loads(variables["CLUSTER_INIT_VALUES_JSON"]))
    assert copied["cluster"]["infra_provider"] == "capo"
    assert "secrets" not in copied and "context" not in copied
    assert "pivot" not in copied["units"] and "capi-core" in copied["units"]


def test_helm_lint_is_clean() -> None:
    for values in ([], ["-f", str(ROOT / "charts/telco-cloud-init/bootstrap.values.yaml")]):
        result = subprocess.run([tools.require("helm"), "lint", "--strict", str(ROOT / "charts/telco-cloud-init"),
                                 *values], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "0 chart(s) failed" in result.stdout


def kustomizations() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "kustomize-components").rglob("kustomization.yaml")
                  if "kind: Component" not in p.read_text())


@pytest.mark.parametrize("folder", kustomizations(), ids=lambda p: str(p.relative_to(ROOT)))
def test_component_builds_with_kustomize(folder: Path) -> None:
    result = tools.run("kustomize", ["build", str(folder)])
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load_all(result.stdout)


@pytest.mark.parametrize("pair", ["capd-kubeadm", "capd-rke2", "capo-kubeadm", "capo-rke2"])
def test_management_cluster_with_workers_builds(tmp_path: Path, pair: str) -> None:
    """The chart adds the workers components to a pair; the combination must build and be coherent."""
    infra, bootstrap = pair.split("-")
    shutil.copytree(ROOT / "kustomize-components/management-cluster", tmp_path / "management-cluster")
    overlay = tmp_path / "management-cluster" / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": [f"../{pair}"],
        "components": ["../workers", f"../workers-{infra}", f"../workers-{bootstrap}"]}))
    result = tools.run("kustomize", ["build", str(overlay)])
    assert result.returncode == 0, result.stderr
    kinds = sorted(d["kind"] for d in yaml.safe_load_all(result.stdout))
    control_plane = "KubeadmControlPlane" if bootstrap == "kubeadm" else "RKE2ControlPlane"
    assert {"Cluster", "MachineDeployment", control_plane} <= set(kinds)
    assert kinds.count("DockerMachineTemplate" if infra == "capd" else "OpenStackMachineTemplate") == 2
    if bootstrap == "kubeadm":  # with workers, workloads go there: the control plane keeps kubeadm's taint
        assert control_plane_taints(result.stdout) == [[{"key": "node-role.kubernetes.io/control-plane",
                                                         "effect": "NoSchedule"}]] * 2
        alone = tools.run("kustomize", ["build", str(ROOT / "kustomize-components/management-cluster" / pair)])
        assert control_plane_taints(alone.stdout) == [[], []]  # no workers: everything runs on the control plane


@pytest.mark.parametrize("volume_type", ["", "fast ssd"])
def test_root_volumes_as_flux_substitutes_them(tmp_path: Path, volume_type: str) -> None:
    """Both machine templates (control plane and workers) boot from a volume of root_volume_size GiB: an integer
    once Flux substitutes the text, with a type only when one is set (an empty one would be null, which CAPO's
    CRD refuses)."""
    shutil.copytree(ROOT / "kustomize-components/management-cluster", tmp_path / "management-cluster")
    overlay = tmp_path / "management-cluster" / "overlay"
    overlay.mkdir()
    typed = ["../capo-root-volume-type"] if volume_type else []
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "resources": ["../capo-kubeadm"],
        "components": ["../workers", "../workers-capo", "../workers-kubeadm", "../capo-root-volume", *typed]}))
    result = tools.run("kustomize", ["build", str(overlay)])
    assert result.returncode == 0, result.stderr
    text = flux.substitute(result.stdout, {"OPENSTACK_ROOT_VOLUME_SIZE": "20",
                                           "OPENSTACK_ROOT_VOLUME_TYPE": volume_type})
    volumes = [d["spec"]["template"]["spec"]["rootVolume"] for d in yaml.safe_load_all(text)
               if d and d["kind"] == "OpenStackMachineTemplate"]
    assert volumes == [{"sizeGiB": 20, **({"type": volume_type} if volume_type else {})}] * 2


def control_plane_taints(stream: str) -> list[Any]:
    plane = next(d for d in yaml.safe_load_all(stream) if d["kind"] == "KubeadmControlPlane")
    spec = plane["spec"]["kubeadmConfigSpec"]
    return [spec[phase]["nodeRegistration"]["taints"] for phase in ("initConfiguration", "joinConfiguration")]


def test_provider_components_carry_the_clusterctl_label() -> None:
    """Without it neither clusterctl move nor our pivot would find the provider types."""
    for folder in sorted((ROOT / "kustomize-components").glob("capi-*")):
        built = tools.run("kustomize", ["build", str(folder)])
        child = next(d for d in yaml.safe_load_all(built.stdout) if d["kind"] == "Kustomization")
        assert child["spec"]["commonMetadata"]["labels"] == {"clusterctl.cluster.x-k8s.io": ""}, folder.name


@pytest.mark.parametrize("name", tools.TOOLS)
def test_fast_tool_version_matches_the_pin_table(name: str) -> None:
    assert pins.tool_version(name) == pins.pins()["tools"][name]["version"]


def test_an_upstream_served_from_an_oci_mirror(cli: Callable[..., Result], make_env: Callable[..., Path]) -> None:
    """A mirror serving a git upstream as an OCI artifact over plain HTTP: the source, and what the units point at."""
    values = (ROOT / "environment-values/kubeadm-capd/values.yaml").read_text() + (
        "upstreams:\n  cluster-api: {kind: OCIRepository, url: 'oci://registry.test:5000/sources/cluster-api',"
        " insecure: true}\n")
    objects = rendered(cli, make_env(values=values))
    source = next(o for o in objects if o["metadata"]["name"] == "cluster-api" and o["apiVersion"].startswith("source"))
    assert source["kind"] == "OCIRepository"
    assert source["spec"]["insecure"] is True
    assert source["spec"]["ref"] == {"tag": pins.upstream("cluster-api")["version"]}
    variables = next(o["data"] for o in objects if o["metadata"]["name"] == "cluster-init-vars")
    assert variables["CLUSTER_API_SOURCE_KIND"] == "OCIRepository"
    assert child_sources(ROOT / "kustomize-components/capi-core", variables) == {("OCIRepository", "cluster-api")}
    plain = next(o for o in rendered(cli, "kubeadm-capd") if o["metadata"]["name"] == "cluster-api"
                 and o["apiVersion"].startswith("source"))
    assert "insecure" not in plain["spec"]


def test_this_repository_served_from_an_oci_registry(cli: Callable[..., Result], make_env: Callable[..., Path]) -> None:
    """source.kind OCIRepository: the units read the files artifact, the bootstrap release takes the chart from
    the Helm OCI chart of the same tag, with bootstrap.values.yaml as its first values layer (no values files
    there), and the management cluster's release is told to do the same."""
    values = (ROOT / "environment-values/kubeadm-capd/values.yaml").read_text() + (
        "source: {kind: OCIRepository, url: 'oci://registry.test:5000/cluster-init', ref: 0.1.0-local-ab12,"
        " insecure: true}\n")
    objects = rendered(cli, make_env(values=values))
    by_name = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    assert ("GitRepository", "cluster-init") not in by_name
    files, chart = by_name["OCIRepository", "cluster-init"], by_name["OCIRepository", "cluster-init-chart"]
    assert files["spec"]["url"] == "oci://registry.test:5000/cluster-init"
    assert chart["spec"]["url"] == "oci://registry.test:5000/cluster-init/charts/telco-cloud-init"
    assert files["spec"]["ref"] == chart["spec"]["ref"] == {"tag": "0.1.0-local-ab12"}
    assert files["spec"]["insecure"] is True
    assert chart["spec"]["layerSelector"]["operation"] == "copy"
    release = by_name["HelmRelease", "telco-cloud-init"]["spec"]
    assert release["chartRef"] == {"kind": "OCIRepository", "name": "cluster-init-chart"} and "chart" not in release
    assert [v["name"] for v in release["valuesFrom"]] == ["cluster-init-bootstrap-values", "cluster-init-values",
                                                          "cluster-init-secrets"]
    layer = yaml.safe_load(by_name["ConfigMap", "cluster-init-bootstrap-values"]["data"]["values"])
    assert layer["context"] == "bootstrap"
    units = [o for o in objects if o["kind"] == "Kustomization" and "cluster-init/unit" in o["metadata"]["labels"]]
    assert {u["spec"]["sourceRef"]["kind"] for u in units} == {"OCIRepository"}
    management = by_name["Kustomization", "telco-cloud-init-management"]["spec"]
    assert management["components"] == ["../oci"]


@pytest.mark.parametrize(("source", "expected"), [
    ("{kind: OCIRepository, url: 'https://git.test/x.git', ref: v1}",
     "source.url: `https://git.test/x.git` is not an oci:// URL"),
    ("{kind: OCIRepository, url: 'oci://r.test/x', ref: 'refs/heads/main'}",
     "source.ref: `refs/heads/main` is not an OCI tag"),
    ("{url: 'oci://r.test/x', ref: v1}", "source.url: `oci://r.test/x` is not a git URL"),
    ("{kind: Bucket, url: 'oci://r.test/x', ref: v1}",
     "source.kind: `Bucket` is not allowed; use one of: GitRepository, OCIRepository"),
])
def test_a_source_of_the_wrong_shape_is_refused(cli: Callable[..., Result], make_env: Callable[..., Path],
                                                source: str, expected: str) -> None:
    values = (ROOT / "environment-values/kubeadm-capd/values.yaml").read_text() + f"source: {source}\n"
    result = cli("validate", str(make_env(values=values)))
    assert result.code == 2 and expected in result.err, result.err


def test_both_clusters_tune_flux_alike() -> None:
    """The CLI's install on the bootstrap cluster and the management-cluster-flux unit's patches give the
    controllers the same extra flags and readiness period: a unit behaves the same on either cluster."""
    from cluster_init.bootstrap import fluxinstall

    install = ROOT / "kustomize-components" / "management-cluster-flux" / "flux-install.yaml"
    child = yaml.safe_load(install.read_text())
    flags: dict[str, list[str]] = {}
    periods = set()
    for patch in child["spec"]["patches"]:
        for op in yaml.safe_load(patch["patch"]):
            if op["path"].endswith("/args/-"):
                flags.setdefault(patch["target"]["name"], []).append(op["value"])
            elif op["path"].endswith("/readinessProbe/periodSeconds"):
                assert "name" not in patch["target"]  # every controller
                periods.add(op["value"])
    assert flags == fluxinstall.TUNING
    assert periods == {fluxinstall.READINESS_PERIOD}


def test_the_flux_images_fetched_early_are_the_ones_its_controllers_run() -> None:
    """bootstrap pulls Flux's images on the kind node while it is NotReady: the names must be those its
    Deployments run once moved to the mirror, or the pods pull again."""
    from cluster_init.bootstrap import fluxinstall

    def deployment(name: str) -> dict[str, Any]:
        return {"kind": "Deployment", "metadata": {"name": name}, "spec": {"template": {"spec": {"containers": [
            {"name": "manager", "image": f"{fluxinstall.UPSTREAM_REGISTRY}/{name}:v1.9.5"}]}}}}

    objects = [fluxinstall._relocated(o, "registry.test:5000/flux") for o in
               (deployment("source-controller"), deployment("helm-controller"),
                {"kind": "Namespace", "metadata": {"name": "flux-system"}})]
    assert fluxinstall.images(objects) == ["registry.test:5000/flux/helm-controller:v1.9.5",
                                           "registry.test:5000/flux/source-controller:v1.9.5"]


def test_flux_on_the_kind_node_network_starts_without_the_pod_network() -> None:
    """On the kind bootstrap cluster Flux's controllers run on the node's network, so that they start before its CNI:
    each reaches the API server and names without cluster services, listens on ports of its own, and
    source-controller hands out artifact addresses on the node."""
    from cluster_init.bootstrap import fluxinstall

    def deployment(name: str) -> dict[str, Any]:
        ports = [{"containerPort": 8080, "name": "http-prom"}, {"containerPort": 9440, "name": "healthz"}]
        args = ["--events-addr=", "--watch-all-namespaces"]
        if name == "source-controller":
            ports.insert(0, {"containerPort": 9090, "name": "http"})
            args.append("--storage-adv-addr=source-controller.$(RUNTIME_NAMESPACE).svc.cluster.local.")
        return {"kind": "Deployment", "metadata": {"name": name}, "spec": {"template": {"spec": {"containers": [
            {"name": "manager", "args": args, "ports": ports,
             "env": [{"name": "RUNTIME_NAMESPACE", "value": "flux-system"}],
             "readinessProbe": {"httpGet": {"path": "/readyz", "port": "healthz"}}}]}}}}

    names = ("source-controller", "kustomize-controller", "helm-controller")
    pods = [fluxinstall.on_node_network(fluxinstall.on_node_network(deployment(n)))["spec"]["template"]["spec"]
            for n in names]
    listening: list[int] = []
    for pod in pods:
        assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "Default"
        assert pod["tolerations"] == [{"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                                       "effect": "NoSchedule"}]
        container = pod["containers"][0]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["KUBERNETES_SERVICE_HOST"] == "$(HOST_IP)" and env["KUBERNETES_SERVICE_PORT"] == "6443"
        assert env["RUNTIME_NAMESPACE"] == "flux-system" and len(container["env"]) == 4
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        flags = dict(a.split("=", 1) for a in container["args"] if "=" in a)
        assert flags["--metrics-addr"] == f":{ports['http-prom']}" and flags["--health-addr"] == f":{ports['healthz']}"
        assert container["readinessProbe"]["httpGet"]["port"] == "healthz"
        listening += ports.values()
    assert len(listening) == len(set(listening)) == 7
    source_flags = dict(a.split("=", 1) for a in pods[0]["containers"][0]["args"] if "=" in a)
    assert source_flags["--storage-adv-addr"] == "$(HOST_IP):9090"
    namespace = {"kind": "Namespace", "metadata": {"name": "flux-system"}}
    assert fluxinstall.on_node_network(dict(namespace)) == namespace


@pytest.mark.parametrize("folder", ["capd-kubeadm", "capo-kubeadm"])
def test_kubeadm_probes_the_new_clusters_coredns_every_second(folder: str) -> None:
    """The KubeadmControlPlane writes a `corednsdeployment` patch into the directory `kubeadm init` reads its
    patches from (tests/t2/test_bootstrap.py checks the Deployment kubeadm makes with it)."""
    kcp = next(o for o in built(f"management-cluster/{folder}", {}) if o["kind"] == "KubeadmControlPlane")
    spec = kcp["spec"]["kubeadmConfigSpec"]
    directory = spec["initConfiguration"]["patches"]["directory"]
    patch = next(f for f in spec["files"] if f["path"] == f"{directory}/corednsdeployment+strategic.yaml")
    containers = yaml.safe_load(patch["content"])["spec"]["template"]["spec"]["containers"]
    assert containers == [{"name": "coredns", "readinessProbe": {"periodSeconds": 1}}]
