"""T2, end to end: `cluster-init bootstrap` as a user runs it, on the offline stack, from nothing to a
self-managed kubeadm-capd management cluster, killed three times on the way and run again each time; then a
change pushed to the source reaches the management cluster through its own Flux.

The source is a git remote, as in production (`--source git URL@REF`): a clone of this working tree with the
environment committed in it (kubeadm-capd pointed at the stack's mirrors, as `make bootstrap` does), served over
HTTP with basic auth by a stand-in git server (testenv/gitserver.py); its credentials are in the environment's
secrets (`secrets.source`). Nothing is pre-seeded: the command creates the kind cluster, installs Flux, applies
the release, and the chart's units build the management cluster, install Flux and the chart there, and pivot.
The test then reads both clusters, pushes a commit and watches the management cluster take it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml

from cluster_init import output, publish
from cluster_init.kube import KubeConfig
from cluster_init.kube.sync import SyncClient
from testenv import gitserver
from testenv.build import BuildError
from testenv.stack import build_all, cluster
from testenv.stack import environment as stack_environment
from tests.conftest import ROOT

pytestmark = pytest.mark.t2

NAME = "t2-bootstrap"
MANAGEMENT = "management-cluster"  # the Cluster's name in kubeadm-capd
CLI = str(Path(sys.executable).parent / "cluster-init")


class Run(NamedTuple):
    proc: subprocess.CompletedProcess[str]
    management: Path
    checkout: Path  # the user's clone of the source, the environment in it
    bootstrap_leaks: list[str]  # where the canary showed on the bootstrap cluster
    bootstrap_dns_probe: str  # seconds between CoreDNS's readiness probes on the bootstrap cluster
    printed: list[str]  # everything the runs printed


CANARY = "canary-5d41402abc4b2a76b9719d911017c592"
GIT_USER = "t2-git-reader"  # not a word the output has otherwise: secrets are masked wherever they show
CANARY_SECRETS = (  # the git password is the canary, and so is the OpenStack one (a capd environment needs none)
    f"secrets:\n  source: {{username: {GIT_USER}, password: {CANARY}}}\n"
    "  openstack: {auth_url: 'https://keystone.test/v3', username: u, password: " + CANARY + ",\n"
    "              project_name: p, user_domain_name: Default, project_domain_name: Default}\n")
ENVIRONMENT = "environment-values/t2-kubeadm-capd"  # where the user keeps the environment in the source


def git(checkout: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(checkout), "-c", "user.name=t2", "-c", "user.email=t2@cluster-init.test",
                           *args], capture_output=True, text=True, check=True).stdout


def source_checkout(work: Path) -> tuple[Path, Path]:
    """A clone of this working tree with the environment committed in it, and the bare remote it pushes to."""
    checkout, remote = work / "checkout", work / "remote" / "cluster-init.git"
    for name, content in publish.working_tree(ROOT).items():
        (checkout / name).parent.mkdir(parents=True, exist_ok=True)
        (checkout / name).write_bytes(content)
    env = stack_environment.write(ROOT / "environment-values" / "kubeadm-capd", checkout / ENVIRONMENT)
    (env / "secrets.yaml").write_text(CANARY_SECRETS)
    git(checkout, "init", "-q", "-b", "main")
    (checkout / ".git" / "info" / "exclude").write_text("secrets.yaml\n")  # secrets never go to git
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "the bundle and the t2 environment")
    subprocess.run(["git", "clone", "-q", "--bare", str(checkout), str(remote)], check=True)
    git(checkout, "remote", "add", "origin", str(remote))
    return checkout, remote


def cluster_config(name: str, work: Path) -> Path:
    path = work / f"{name}.kubeconfig"
    path.write_text(cluster.kind("get", "kubeconfig", "--name", name))
    return path


def canary_leaks(kubeconfig: Path) -> list[str]:
    """Where the canary shows, in any encoding: ConfigMaps and events of every namespace, logs of every pod in
    cluster-init (the pivot) and flux-system."""
    forms = output.encodings(CANARY)
    texts = {f"{kind} -A": cluster.kubectl(kubeconfig, "get", kind, "-A", "-o", "json", timeout=120)
             for kind in ("configmaps", "events")}
    for namespace in ("cluster-init", "flux-system"):
        pods = json.loads(cluster.kubectl(kubeconfig, "get", "pods", "-n", namespace, "-o", "json"))["items"]
        for pod in pods:
            name = pod["metadata"]["name"]
            try:
                texts[f"logs {namespace}/{name}"] = cluster.kubectl(kubeconfig, "logs", "-n", namespace, name,
                                                                    "--all-containers", timeout=120)
            except BuildError:  # a container that has not started has no log yet
                continue
    return sorted(where for where, text in texts.items() if any(form in text for form in forms))


def dns_probe_period(kubeconfig: Path) -> str:
    return cluster.kubectl(kubeconfig, "get", "deployment", "coredns", "-n", "kube-system", "-o",
                           "jsonpath={.spec.template.spec.containers[?(@.name=='coredns')].readinessProbe.periodSeconds}")


def remove_management_cluster() -> None:
    """The containers CAPD made for the management cluster: once self-managed, nothing else deletes them."""
    ids = subprocess.run(["docker", "ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={MANAGEMENT}"],
                         capture_output=True, text=True, check=False).stdout.split()
    if ids:
        subprocess.run(["docker", "rm", "--force", "--volumes", *ids], capture_output=True, check=False)


# Where the first runs are killed (SIGKILL), by the status line that shows the point was reached: during Flux's
# install, while the units reconcile, during the pivot. The next run must finish the job from there.
KILL_POINTS = ("… Flux installed", "capi-core Reconciling", "Job/cluster-init-pivot")


def killed_at(argv: list[str], marker: str) -> str:
    """Run the CLI until it prints `marker`, then SIGKILL it; what it printed."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    seen = []
    assert proc.stderr is not None
    for line in proc.stderr:
        seen.append(line)
        if marker in line:
            proc.kill()
            break
    proc.wait(timeout=60)
    printed = "".join(seen)
    assert marker in printed, f"the run ended before {marker!r}:\n{printed[-3000:]}"
    return printed


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    build_all()
    work = tmp_path_factory.mktemp("bootstrap")
    checkout, remote = source_checkout(work)
    cluster.down(NAME)
    remove_management_cluster()
    try:
        with gitserver.serving(remote.parent, GIT_USER, CANARY) as url:
            argv = [CLI, "bootstrap", str(checkout / ENVIRONMENT), "--kind", NAME, "--timeout", "2400",
                    "--source", "git", f"{url}/{remote.name}@refs/heads/main",
                    "--management-kubeconfig", str(work / "mgmt.kubeconfig")]
            printed = [killed_at(argv, marker) for marker in KILL_POINTS]
            bootstrap = cluster_config(NAME, work)  # read before the last run deletes it
            leaks, dns_probe = canary_leaks(bootstrap), dns_probe_period(bootstrap)
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=3000, cwd=ROOT, check=False)
            printed += [proc.stdout, proc.stderr]
            yield Run(proc, work / "mgmt.kubeconfig", checkout, leaks, dns_probe, printed)
    finally:
        cluster.down(NAME)
        remove_management_cluster()


def test_bootstrap_finishes_and_deletes_the_bootstrap_cluster(run: Run) -> None:
    assert run.proc.returncode == 0, run.proc.stderr[-4000:]
    assert "Traceback" not in run.proc.stderr
    for line in ("✓ Flux installed", "manages itself", f"✓ bootstrap cluster {NAME} deleted"):
        assert line in run.proc.stderr
    assert not cluster.exists(NAME)


def test_the_secret_canary_never_shows(run: Run) -> None:
    """Not in what the runs printed, nor on either cluster in ConfigMaps, events or our components' logs."""
    assert not any(form in text for text in run.printed for form in output.encodings(CANARY))
    assert run.bootstrap_leaks == []
    assert canary_leaks(run.management) == []


def test_the_management_kubeconfig_is_private(run: Run) -> None:
    assert run.management.stat().st_mode & 0o777 == 0o600


def items(client: SyncClient, path: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = client.request("GET", path)["items"]
    return found


def ready(obj: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in obj.get("status", {}).get("conditions", []))


def test_the_management_cluster_runs_itself(run: Run) -> None:
    """Its nodes are Ready (the CNI unit), Flux and the chart's release run there, the Cluster API objects are
    there, unpaused, and the cluster definitions unit is back there to keep them in sync with the source."""
    client = SyncClient(KubeConfig.load(run.management), retry_deadline=30)
    nodes = items(client, "/api/v1/nodes")
    assert nodes and all(ready(n) for n in nodes)
    # bootstrap ends once every unit there is Ready; helm-controller reports the release's upgrade Ready at
    # its next 5 s poll
    deadline = time.monotonic() + 60
    while True:
        releases = {r["metadata"]["name"]: r for r in
                    items(client, "/apis/helm.toolkit.fluxcd.io/v2/namespaces/cluster-init/helmreleases")}
        if all(ready(r) for r in releases.values()):
            break
        assert time.monotonic() < deadline, {name: r.get("status") for name, r in releases.items()}
        time.sleep(1)
    assert {"telco-cloud-init", "cert-manager"} <= set(releases)
    clusters = items(client, "/apis/cluster.x-k8s.io/v1beta2/namespaces/cluster-init/clusters")
    assert [c["metadata"]["name"] for c in clusters] == [MANAGEMENT]
    assert not clusters[0]["spec"].get("paused")
    units = {u["metadata"]["name"]: u for u in
             items(client, "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/cluster-init/kustomizations")}
    assert "management-cluster" in units, sorted(units)  # re-enabled there once pivoted


def test_the_management_cluster_runs_the_tuned_flux(run: Run) -> None:
    """The management-cluster-flux unit's patches reach its controllers: the same tuning as the bootstrap
    cluster's (dependencies rechecked every second, readiness probed every second)."""
    client = SyncClient(KubeConfig.load(run.management), retry_deadline=30)
    deployments = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]
                   for d in items(client, "/apis/apps/v1/namespaces/flux-system/deployments")}
    assert {name: c["readinessProbe"]["periodSeconds"] for name, c in deployments.items()} == dict.fromkeys(
        deployments, 1)
    for name in ("kustomize-controller", "helm-controller"):
        assert "--requeue-dependency=1s" in deployments[name]["args"], deployments[name]["args"]


def test_both_clusters_probe_coredns_every_second(run: Run) -> None:
    """kubeadm's 10 s would leave a cluster without DNS 10 s longer whenever the first probe comes too early:
    bootstrap patches the kind cluster's CoreDNS, and the management cluster's kubeadm applies the patch file
    its KubeadmControlPlane writes."""
    assert run.bootstrap_dns_probe == "1"
    assert dns_probe_period(run.management) == "1"


def test_no_pod_sandbox_failed_for_a_known_cause(run: Run) -> None:
    """No pod sandbox on the management cluster failed (each failure costs a pod about 10 s) for want of a pod
    range (kube-router publishes its CNI configuration only once it holds one) or to runc's cgroup v1 freeze
    (the stack's node image runs containers through the cgroupfs driver)."""
    client = SyncClient(KubeConfig.load(run.management), retry_deadline=30)
    failed = [f"{e['involvedObject'].get('namespace')}/{e['involvedObject']['name']}: {e.get('message')}"
              for e in items(client, "/api/v1/events?fieldSelector=reason%3DFailedCreatePodSandBox")
              if any(cause in (e.get("message") or "") for cause in ("no IP ranges specified", "unable to freeze"))]
    assert failed == []


def test_nothing_was_duplicated_by_the_killed_runs(run: Run) -> None:
    """One control plane machine and one load balancer, as the values ask, however many runs it took."""
    client = SyncClient(KubeConfig.load(run.management), retry_deadline=30)
    machines = items(client, "/apis/cluster.x-k8s.io/v1beta2/namespaces/cluster-init/machines")
    assert len(machines) == 1, [m["metadata"]["name"] for m in machines]
    containers = subprocess.run(["docker", "ps", "--format", "{{.Names}}", "--filter",
                                 f"label=io.x-k8s.kind.cluster={MANAGEMENT}"],
                                capture_output=True, text=True, check=True).stdout.split()
    assert sorted(c.removeprefix(MANAGEMENT + "-").split("-")[0] for c in containers) == ["control", "lb"], containers


PUSHED_LABEL = "t2.cluster-init.test/pushed-after-pivot"


def test_a_change_pushed_to_the_source_reaches_the_management_cluster(run: Run) -> None:
    """After the pivot, with the bootstrap cluster gone: a label on the Cluster, committed to the environment's
    values.yaml and pushed, is applied by the management cluster's own Flux (its GitRepository asked to fetch
    now, as `flux reconcile source git` does, rather than waiting for its interval)."""
    assert run.proc.returncode == 0, run.proc.stderr[-2000:]
    values_file = run.checkout / ENVIRONMENT / "values.yaml"
    values = yaml.safe_load(values_file.read_text())
    patch = {"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Cluster",
             "metadata": {"name": MANAGEMENT, "labels": {PUSHED_LABEL: "yes"}}}
    units = values.setdefault("units", {}).setdefault("management-cluster", {})
    units["patches"] = [{"target": {"kind": "Cluster"}, "patch": yaml.safe_dump(patch)}]
    values_file.write_text(yaml.safe_dump(values, sort_keys=False))
    git(run.checkout, "commit", "-q", "-am", "label the management cluster")
    git(run.checkout, "push", "-q", "origin", "main")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    cluster.kubectl(run.management, "annotate", "--overwrite", "-n", "cluster-init", "gitrepository/cluster-init",
                    f"reconcile.fluxcd.io/requestedAt={now}")
    client = SyncClient(KubeConfig.load(run.management), retry_deadline=30)
    path = f"/apis/cluster.x-k8s.io/v1beta2/namespaces/cluster-init/clusters/{MANAGEMENT}"
    deadline = time.monotonic() + 900
    while (client.request("GET", path)["metadata"].get("labels") or {}).get(PUSHED_LABEL) != "yes":
        assert time.monotonic() < deadline, "the pushed label did not reach the Cluster on the management cluster"
        time.sleep(3)
