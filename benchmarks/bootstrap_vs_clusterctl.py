"""Benchmark: `cluster-init bootstrap` against the imperative path a user would otherwise script, on the same
offline stack, in one run, with the time of each step.

- ours: `cluster-init bootstrap ENV` (kubeadm-capd pointed at the stack), from nothing to a self-managed
  management cluster, the bootstrap cluster deleted;
- imperative: kind create; `clusterctl init` (core, kubeadm bootstrap and control plane, CAPD, from a local
  clusterctl repository made of the same pinned trees, cert-manager from the stack's chart); apply the same
  management-cluster manifests; wait for its control plane; apply the CNI; wait for its nodes; `clusterctl init`
  on the management cluster; `clusterctl move`; kind delete.

Goal (issue 11): ours <= 1.0x the imperative path. Run: `PYTHONPATH=. .venv/bin/python
benchmarks/bootstrap_vs_clusterctl.py [ours|imperative] [--runs N]` (about 5 minutes a run on 2 cores, once the
stack is built). Both sides vary by 10-20 s from run to run on 2 cores: `--runs 3` alternates them three times and
reports each run's ratio and the ratio of the sums. Each side's machine CPU time is reported too: on 2 cores both
sides keep the machine busy for much of their run, so the extra work of ours (Flux's controllers on both clusters,
and the API requests they make) shows up as time.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from cluster_init import environment, flux, helm, tools, upstream
from cluster_init.bootstrap import kind
from cluster_init.pins import upstream as pin
from testenv.build import ensure_binaries
from testenv.stack import build_all, charts, controllers
from testenv.stack import environment as stack_environment
from tests.conftest import ROOT
from tests.t1.pivot_fixtures import clusterctl_binary

ENV = ROOT / "environment-values" / "kubeadm-capd"
NAMESPACE = "cluster-init"
CLUSTER = "management-cluster"
PROVIDERS = (  # clusterctl name, type, file, folder of the Cluster API tree, metadata
    ("cluster-api", "CoreProvider", "core-components.yaml", "core/config/default", "metadata.yaml"),
    ("kubeadm", "BootstrapProvider", "bootstrap-components.yaml", "bootstrap/kubeadm/config/default",
     "metadata.yaml"),
    ("kubeadm", "ControlPlaneProvider", "control-plane-components.yaml", "controlplane/kubeadm/config/default",
     "metadata.yaml"),
    ("docker", "InfrastructureProvider", "infrastructure-components.yaml", "test/infrastructure/docker/config/default",
     "metadata.yaml"),  # CAPD is released with Cluster API: the repository's metadata covers it
)


def busy_cpu_seconds() -> float:
    """The machine's CPU time spent so far outside idle and I/O wait (all cores, /proc/stat): both sides share the
    2 cores with their clusters, so the work each one makes the machine do tells why one takes longer."""
    with open("/proc/stat", encoding="ascii") as f:
        ticks = [int(field) for field in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def timed(steps: dict[str, float], name: str, work: Callable[[], object]) -> None:
    start = time.monotonic()
    work()
    steps[name] = time.monotonic() - start
    print(f"  {name}: {steps[name]:.1f}s", file=sys.stderr, flush=True)


def run(argv: list[str], **kwargs: object) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv[:3]))} failed: {proc.stderr[-2000:]}")
    return str(proc.stdout)


def ours(work: Path) -> dict[str, float]:
    env = stack_environment.write(ENV, work / "ours-env")
    steps: dict[str, float] = {}
    cli = str(Path(sys.executable).parent / "cluster-init")
    argv = [cli, "bootstrap", str(env), "--kind", "bench-ours", "-o", "json",
            "--management-kubeconfig", str(work / "ours.kubeconfig")]
    start = time.time()
    TIMELINE.clear()
    timed(steps, "cluster-init bootstrap", lambda: TIMELINE.update(timeline(run_both(argv), start)))
    for name, seconds in TIMELINE.items():
        print(f"    {name}: {seconds:.0f}s", file=sys.stderr)
    return steps


TIMELINE: dict[str, float] = {}  # ours, inside: when each step finished and each unit was first Ready (s from start)


def run_both(argv: list[str]) -> tuple[str, str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} failed: {proc.stderr[-2000:]}")
    return proc.stdout, proc.stderr


def timeline(printed: tuple[str, str], start: float) -> dict[str, float]:
    """From the CLI's own output: each step's duration (its ✓ lines), and when each unit and the pivot Job were
    first Ready (bootstrap goes on once the Job is: Flux reports the last units Ready later)."""
    import datetime as dt

    out, err = printed
    found = {f"step {line[2:].rsplit(' (', 1)[0]}": float(line.rsplit("(", 1)[1].rstrip("s)"))
             for line in err.splitlines() if line.startswith("✓ ")}
    for line in out.splitlines():
        event = json.loads(line)
        key = f"{'unit' if event['kind'] == 'unit' else 'Job'} {event['name']} Ready at"
        if event["kind"] in ("unit", "Job") and event["state"] == "Ready" and key not in found:
            found[key] = round(dt.datetime.fromisoformat(event["time"]).timestamp() - start)
    return found


def repository(work: Path) -> Path:
    """A clusterctl local repository and config: the same pinned trees the bundle reads, the same images."""
    version = pin("cluster-api")["version"]
    repo = work / "clusterctl-repo"
    providers = []
    for name, kind_, file, folder, metadata in PROVIDERS:
        label = {"CoreProvider": "cluster-api", "BootstrapProvider": f"bootstrap-{name}",
                 "ControlPlaneProvider": f"control-plane-{name}"}.get(kind_, f"infrastructure-{name}")
        target = repo / label / version
        target.mkdir(parents=True)
        tree = upstream.repository_path("cluster-api", pin("cluster-api")["module"], version, f"./{folder}")
        (target / file).write_text(tools.run("kustomize", ["build", str(tree)]).stdout)
        meta = upstream.repository_path("cluster-api", pin("cluster-api")["module"], version, f"./{metadata}")
        (target / "metadata.yaml").write_text(meta.read_text())
        providers.append({"name": name, "type": kind_, "url": f"file://{target / file}"})
    manager = {"cluster-api": "cluster-api-controller", "bootstrap-kubeadm": "kubeadm-bootstrap-controller",
               "control-plane-kubeadm": "kubeadm-control-plane-controller", "infrastructure-docker": "capd-manager"}
    images = {label: {"repository": pin("cluster-api")["image_registry"], "tag": version} for label in manager}
    cert = repo / "cert-manager" / controllers.CERT_MANAGER_STACK_VERSION
    cert.mkdir(parents=True)
    chart = charts.cert_manager_chart(work)
    cert_manifest = tools.run("helm", ["template", "cert-manager", str(chart), "--namespace", "cert-manager",
                                       "--set", "installCRDs=true"]).stdout
    (cert / "cert-manager.yaml").write_text(f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: cert-manager\n---\n"
                                            f"{cert_manifest}")
    config = {"providers": providers, "images": images,
              "cert-manager": {"url": f"file://{cert / 'cert-manager.yaml'}",
                               "version": controllers.CERT_MANAGER_STACK_VERSION}}
    (work / "clusterctl.yaml").write_text(yaml.safe_dump(config))
    return work / "clusterctl.yaml"


def management_manifests(work: Path) -> tuple[str, str]:
    """The management cluster's objects and its CNI, exactly as the bundle's units build them."""
    env = environment.load(stack_environment.write(ENV, work / "imperative-env"))
    objects = helm.template(env, "bootstrap", NAMESPACE)
    variables = next(o["data"] for o in objects if o["metadata"]["name"] == "cluster-init-vars")
    built = tools.run("kustomize", ["build", str(ROOT / "kustomize-components/management-cluster/capd-kubeadm")])
    cni = tools.run("kustomize", ["build", str(ROOT / "kustomize-components/cni-kube-router")])
    return flux.substitute(built.stdout, variables), flux.substitute(cni.stdout, variables)


def imperative(work: Path) -> dict[str, float]:
    ctl = str(clusterctl_binary())
    config = repository(work)
    definitions, cni = management_manifests(work)
    boot, mgmt = work / "imp-bootstrap.kubeconfig", work / "imp-mgmt.kubeconfig"
    env = {**os.environ, "CLUSTERCTL_DISABLE_VERSIONCHECK": "true", "EXP_CLUSTER_RESOURCE_SET": "true",
           "EXP_MACHINE_POOL": "true", "CLUSTER_TOPOLOGY": "true"}
    init = [ctl, "init", "--config", str(config), "--core", "cluster-api", "--bootstrap", "kubeadm",
            "--control-plane", "kubeadm", "--infrastructure", "docker", "--wait-providers"]
    steps: dict[str, float] = {}
    kubectl = str(ensure_binaries(names=("kubectl",)) / "kubectl")
    timed(steps, "kind create", lambda: (kind.ensure("bench-imperative", _node_image()),
                                         boot.write_text(run([str(tools.tool_path("kind")), "get", "kubeconfig",
                                                              "--name", "bench-imperative"]))))
    timed(steps, "clusterctl init (bootstrap)", lambda: run([*init, "--kubeconfig", str(boot)], env=env, timeout=1800))
    manifest = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NAMESPACE}\n---\n{definitions}"
    timed(steps, "apply the cluster", lambda: _retry(lambda: run([kubectl, f"--kubeconfig={boot}", "apply", "-f",
                                                                  "-"], input=manifest, timeout=300)))
    timed(steps, "wait for the control plane", lambda: _wait_kubeconfig(kubectl, boot, mgmt))
    timed(steps, "apply the CNI, wait for the nodes", lambda: (
        _retry(lambda: run([kubectl, f"--kubeconfig={mgmt}", "apply", "-f", "-"], input=cni, timeout=300)),
        run([kubectl, f"--kubeconfig={mgmt}", "wait", "--for=condition=Ready", "nodes", "--all", "--timeout=900s"],
            timeout=1000)))
    timed(steps, "clusterctl init (management)", lambda: run([*init, "--kubeconfig", str(mgmt)], env=env,
                                                             timeout=1800))
    timed(steps, "clusterctl move", lambda: run([ctl, "move", "--kubeconfig", str(boot), "--to-kubeconfig", str(mgmt),
                                                 "--namespace", NAMESPACE], env=env, timeout=1800))
    timed(steps, "kind delete", lambda: kind.delete("bench-imperative"))
    return steps


def _retry(work: Callable[[], object], timeout: float = 600) -> object:
    """What a script does after `clusterctl init`: apply again until the providers' webhooks answer."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return work()
        except RuntimeError:
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def _node_image() -> str:
    return f"{pin('kind-node')['url']}:{pin('kind-node')['version']}"


def _wait_kubeconfig(kubectl: str, boot: Path, mgmt: Path, timeout: float = 1200) -> None:
    """Poll (with a deadline) until the control plane is initialized, then write its kubeconfig."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = subprocess.run([kubectl, f"--kubeconfig={boot}", "get", "secret", "-n", NAMESPACE,
                              f"{CLUSTER}-kubeconfig", "-o", "jsonpath={.data.value}"],
                             capture_output=True, text=True, check=False).stdout
        if out:
            import base64

            mgmt.write_text(base64.b64decode(out).decode())
            mgmt.chmod(0o600)
            return
        time.sleep(2)
    raise RuntimeError("the management cluster's control plane was not initialized in time")


def remove_management_cluster() -> None:
    ids = run(["docker", "ps", "-aq", "--filter", f"label=io.x-k8s.kind.cluster={CLUSTER}"]).split()
    if ids:
        run(["docker", "rm", "--force", "--volumes", *ids])


def one_run(sides: list[str], work: Path) -> dict[str, Any]:
    """Each side once, from nothing, with nothing left behind: the steps' times and, when both ran, the ratio."""
    results: dict[str, dict[str, float]] = {}
    cpu: dict[str, float] = {}
    for name, method in (("ours", ours), ("imperative", imperative)):
        if name not in sides:
            continue
        remove_management_cluster()
        print(f"{name}:", file=sys.stderr)
        try:
            before = busy_cpu_seconds()
            results[name] = method(work / name)
            cpu[name] = round(busy_cpu_seconds() - before, 1)
            print(f"  machine CPU time: {cpu[name]:.0f}s", file=sys.stderr)
        finally:
            for leftover in ("bench-ours", "bench-imperative"):
                kind.delete(leftover)
            remove_management_cluster()
    total = {name: sum(steps.values()) for name, steps in results.items()}
    ratio = round(total["ours"] / total["imperative"], 2) if len(total) == 2 else None
    return {"steps": results, "total": total, "ours / imperative": ratio, "machine CPU seconds": cpu,
            "ours timeline": dict(TIMELINE)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("side", nargs="?", choices=("ours", "imperative"), help="run one side only")
    parser.add_argument("--runs", type=int, default=1, help="alternate the two sides this many times")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs takes a count of 1 or more")
    sides = [args.side] if args.side else ["ours", "imperative"]
    build_all()
    clusterctl_binary()  # built before any timing
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-bootstrap-") as tmp:
        for index in range(args.runs):
            work = Path(tmp) / f"run-{index + 1}"
            for side in sides:
                (work / side).mkdir(parents=True)
            print(f"run {index + 1} of {args.runs}", file=sys.stderr)
            runs.append(one_run(sides, work))
    report: dict[str, Any] = runs[0] if len(runs) == 1 else {"runs": runs}
    if len(runs) > 1 and len(sides) == 2:
        sums = {side: sum(r["total"][side] for r in runs) for side in sides}
        report["ours / imperative, over the runs"] = round(sums["ours"] / sums["imperative"], 2)
        report["each run"] = [r["ours / imperative"] for r in runs]
        cpu = {side: sum(r["machine CPU seconds"][side] for r in runs) for side in sides}
        report["machine CPU seconds, ours / imperative, over the runs"] = round(cpu["ours"] / cpu["imperative"], 2)
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
