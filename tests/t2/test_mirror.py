"""T2: `cluster-init mirror`, run as a user runs it, copies an environment's bill of materials registry to registry.

Source: the offline stack's registry (127.0.0.1:5001), which holds upstream images under their registries'
names and the sources and charts where mirror puts them, as in a chain of air-gapped mirrors. Target: a
second registry of the same image, with throw-away storage. Every artifact the source holds must land in the
target with the source's digest, sources as Flux artifacts; what the stack does not serve (its documented
gaps) must fail on its own line, naming it; a second run copies nothing.
"""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cluster_init import environment, images, oci, pins, tools
from cluster_init.mirror import Result, Step, run, steps
from cluster_init.validation import validate
from cluster_init.values import coalesce
from testenv.stack import cluster, controllers, host, registry
from tests.conftest import ROOT

pytestmark = pytest.mark.t2

NAME = "cluster-init-mirror-target"  # fixed: a killed run's container is removed by the next
SOURCE = f"127.0.0.1:{registry.HOST_PORT}"
CLI = str(Path(sys.executable).parent / "cluster-init")
# What the stack's registry must serve for this test to prove anything (the rest of its gaps are printed).
CORE = ("ghcr.io/fluxcd/source-controller:", "registry.k8s.io/cluster-api/cluster-api-controller:",
        "https://github.com/kubernetes-sigs/cluster-api.git@", "oci://ghcr.io/fluxcd/flux-manifests:")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def answers(address: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{address}/v2/", timeout=2):
            return None
    except OSError as e:
        return str(e)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A second registry, same image as the stack's, on its own port and throw-away storage; removed after."""
    host.ensure_host()
    built = subprocess.run([sys.executable, "-m", "testenv", "stack", "build"], capture_output=True, text=True,
                           check=False, cwd=ROOT)  # warm: seconds; everything the stack serves, in its registry
    assert built.returncode == 0, built.stderr[-3000:]
    image = registry.image()
    storage = tmp_path_factory.mktemp("mirror-target")
    subprocess.run(["docker", "rm", "--force", NAME], capture_output=True, check=False)
    address = f"127.0.0.1:{free_port()}"
    subprocess.run(["docker", "run", "--detach", "--name", NAME, "--publish", f"{address}:5000",
                    "--volume", f"{storage}:/var/lib/registry", image], check=True, capture_output=True)
    try:
        cluster.wait_until(f"{NAME} answers", lambda: answers(address), timeout=30)
        yield address
    finally:
        subprocess.run(["docker", "rm", "--force", NAME], capture_output=True, check=False)


@pytest.fixture(scope="module")
def env_dir() -> Path:
    return ROOT / "environment-values" / "kubeadm-capd"


def mirror(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "mirror", *args], capture_output=True, text=True, check=False, timeout=1800, cwd=ROOT)


def digest(ref: str) -> str | None:
    proc = tools.run("crane", ["digest", ref, "--insecure"])
    return proc.stdout.strip() if proc.returncode == 0 else None


def manifest(ref: str) -> dict[str, Any]:
    proc = tools.run("crane", ["manifest", ref, "--insecure"])
    assert proc.returncode == 0, proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


@pytest.fixture(scope="module")
def first_run(target: str, env_dir: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    start = time.monotonic()
    proc = mirror(str(env_dir), "--from", SOURCE, "--to", target, "--insecure", "-o", "json")
    return proc, time.monotonic() - start


def rows(proc: subprocess.CompletedProcess[str]) -> list[dict[str, str]]:
    found: list[dict[str, str]] = json.loads(proc.stdout)["artifacts"]
    return found


def layout_path(artifact: images.Artifact) -> str:
    """Where the documented layout puts an artifact, under the source registry as under the target."""
    if artifact.kind == "image":
        return artifact.ref  # fully qualified in the bill of materials
    if artifact.kind == "chart":
        return f"charts/{artifact.ref.rsplit('/', 1)[1]}"
    return f"sources/{artifact.upstream}:{artifact.version}"


@pytest.fixture(scope="module")
def bom(env_dir: Path) -> list[images.Artifact]:
    """What mirror must copy: every image and chart, every git or OCI upstream source (a Helm repository's chart is
    copied, and the bundle's own repository is the user's to serve)."""
    return [a for a in images.bill_of_materials(environment.load(env_dir)) if a.kind != "source"
            or pins.upstream(a.upstream or "").get("kind") in ("GitRepository", "OCIRepository")]


def test_every_artifact_the_source_holds_is_in_the_target_with_its_digest(
        first_run: tuple[subprocess.CompletedProcess[str], float], bom: list[images.Artifact], target: str) -> None:
    """Held by the source: same digest in the target. Not held (the stack's gaps, printed): a failure on its own
    line naming it, nothing in the target, exit 1."""
    proc, seconds = first_run
    by_ref = {r["ref"]: r for r in rows(proc)}
    assert {a.ref for a in bom} <= set(by_ref), proc.stderr
    held: list[str] = []
    gaps: list[str] = []
    for artifact in bom:
        want, row = digest(f"{SOURCE}/{layout_path(artifact)}"), by_ref[artifact.ref]
        (held if want else gaps).append(artifact.ref)
        assert digest(f"{target}/{layout_path(artifact)}") == want, row
        assert row["action"] == ("copied" if want else "failed") and row["digest"] == (want or ""), row
        assert sum(f" {artifact.ref} " in line and "FAILED" in line for line in proc.stderr.splitlines()) == (not want)
    print(f"\nmirror: {len(held)} copied in {seconds:.1f}s; not served by the stack: {', '.join(gaps) or 'none'}")
    assert proc.returncode == (1 if gaps else 0), proc.stderr
    assert all(any(ref.startswith(core) for ref in held) for core in CORE), held
    assert {a.kind for a in bom if a.ref in held} >= {"image", "source"}


def test_sources_are_flux_artifacts(first_run: tuple[subprocess.CompletedProcess[str], float]) -> None:
    sources = [r for r in rows(first_run[0]) if r["kind"] == "source" and r["action"] != "failed"]
    assert sources
    for row in sources:
        found = manifest(row["target"])
        assert found["config"]["mediaType"] == oci.CONFIG_TYPE, row
        assert [layer["mediaType"] for layer in found["layers"]] == [oci.LAYER_TYPE], row


def test_the_values_printed_point_the_environment_at_the_mirror(first_run: tuple[subprocess.CompletedProcess[str],
                                                                                   float], target: str,
                                                                tmp_path: Path, env_dir: Path) -> None:
    snippet = json.loads(first_run[0].stdout)["values"]
    assert snippet["upstreams"]["cluster-api"] == {
        "kind": "OCIRepository", "url": f"oci://{target}/sources/cluster-api",
        "image_registry": f"{target}/registry.k8s.io/cluster-api", "insecure": True}
    env = tmp_path / "mirrored"
    shutil.copytree(env_dir, env)
    values_file = env / "values.yaml"
    values_file.write_text(yaml.safe_dump(coalesce(yaml.safe_load(values_file.read_text()), snippet)))
    loaded = environment.load(env)
    for context in ("bootstrap", "management"):
        validate(loaded, context)  # raises on a value the schema refuses


def test_a_second_run_copies_nothing(first_run: tuple[subprocess.CompletedProcess[str], float], target: str,
                                     env_dir: Path) -> None:
    proc = mirror(str(env_dir), "--from", SOURCE, "--to", target, "--insecure", "-o", "json")
    assert proc.returncode == first_run[0].returncode, proc.stderr
    again = {r["ref"]: r["action"] for r in rows(proc)}
    before = {r["ref"]: r["action"] for r in rows(first_run[0])}
    assert again == {ref: "failed" if action == "failed" else "skipped" for ref, action in before.items()}


@pytest.mark.parametrize("bad", ["oci://registry.example", "https://user:s3cret@registry.example", "Registry.Example",
                                 "registry.example/ space"])
def test_a_bad_target_is_refused_with_one_line(bad: str, target: str) -> None:
    proc = mirror("environment-values/kubeadm-capd", "--from", SOURCE, "--to", bad)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and "--to" in proc.stderr, proc.stderr
    assert "s3cret" not in proc.stderr + proc.stdout
    assert proc.stdout == ""


def test_a_chart_is_copied_as_helm_pulls_it(target: str, tmp_path: Path) -> None:
    """The stack's cert-manager chart (not in kubeadm-capd's bill of materials, see STACK_GAPS) through the same
    steps: copied with its digest, and helm pulls it from the target."""
    version = controllers.CERT_MANAGER_STACK_VERSION
    chart = images.Artifact("chart", f"https://charts.jetstack.io/cert-manager:{version}", ("cert-manager",),
                            ("bootstrap",), "cert-manager", version)
    plan, _ = mirror_steps([chart], target, SOURCE)
    assert [r.action for r in run_mirror(plan)] in (["copied"], ["skipped"])
    assert digest(f"{SOURCE}/charts/cert-manager:{version}") == digest(f"{target}/charts/cert-manager:{version}")
    pulled = tools.run("helm", ["pull", f"oci://{target}/charts/cert-manager", "--version", version, "--plain-http",
                                "--destination", str(tmp_path)])
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / f"cert-manager-{version}.tgz").is_file()


def test_a_git_upstream_is_published_from_its_module_as_a_flux_artifact(target: str) -> None:
    """Without --from, a git upstream is re-published from the pinned module's tree: a Flux artifact holding the
    units' folders; the second time it is skipped."""
    pin = pins.upstream("cluster-api")
    source = images.Artifact("source", f"{pin['url']}@{pin['version']}", ("capi-core",), ("bootstrap",),
                             "cluster-api", pin["version"])
    plan, _ = mirror_steps([source], f"{target}/fresh", None)
    assert [r.action for r in run_mirror(plan)] == ["pushed"]
    assert [r.action for r in run_mirror(plan)] == ["skipped"]
    found = manifest(f"{target}/fresh/sources/cluster-api:{pin['version']}")
    assert [layer["mediaType"] for layer in found["layers"]] == [oci.LAYER_TYPE]


def mirror_steps(bom: list[images.Artifact], to: str, source: str | None) -> tuple[list[Step], list[str]]:
    return steps(bom, dict(pins.pins()["upstreams"]), to, source)


def run_mirror(plan: list[Step]) -> list[Result]:
    return run(plan, insecure=True, progress=lambda i, r: None)


def test_a_killed_run_run_again_finishes(target: str, env_dir: Path, bom: list[images.Artifact]) -> None:
    """Killed (SIGKILL) after its first artifact, then run again: every artifact the source holds ends in the target
    with the source's digest."""
    to = f"{target}/killed"
    proc = subprocess.Popen([CLI, "mirror", str(env_dir), "--from", SOURCE, "--to", to, "--insecure"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stderr is not None
    try:
        first = next(line for line in proc.stderr if line.startswith("[1/"))
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -9, first
    again = mirror(str(env_dir), "--from", SOURCE, "--to", to, "--insecure", "-o", "json")
    assert again.returncode in (0, 1), again.stderr
    for artifact in bom:
        assert digest(f"{to}/{layout_path(artifact)}") == digest(f"{SOURCE}/{layout_path(artifact)}"), artifact.ref


def test_a_chart_of_an_https_helm_repository_is_pushed_as_an_oci_chart(target: str, tmp_path: Path) -> None:
    """A chart from a classic Helm repository (served here over HTTP from the stack's cert-manager chart) is
    pulled with helm and pushed as an OCI chart; the second time, the target's chart layer is that archive: skipped."""
    version = controllers.CERT_MANAGER_STACK_VERSION
    pulled = tools.run("helm", ["pull", f"oci://{SOURCE}/charts/cert-manager", "--version", version, "--plain-http",
                                "--destination", str(tmp_path)])
    assert pulled.returncode == 0, pulled.stderr
    assert tools.run("helm", ["repo", "index", str(tmp_path)]).returncode == 0
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            chart = images.Artifact("chart", f"http://127.0.0.1:{server.server_port}/cert-manager:{version}",
                                    ("cert-manager",), ("bootstrap",), "cert-manager", version)
            plan, _ = mirror_steps([chart], f"{target}/helm", None)
            assert [s.make for s in plan] == ["helm"]
            assert [r.action for r in run_mirror(plan)] == ["pushed"]
            assert [r.action for r in run_mirror(plan)] == ["skipped"]
        finally:
            server.shutdown()
    archive = (tmp_path / f"cert-manager-{version}.tgz").read_bytes()
    layers = manifest(f"{target}/helm/charts/cert-manager:{version}")["layers"]
    assert [layer["digest"] for layer in layers] == [oci.digest(archive)]
