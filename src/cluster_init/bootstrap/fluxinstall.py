"""Flux on the bootstrap cluster: the pinned install manifests (`upstreams.flux`, an OCI artifact), applied
server-side, CRDs first; running when every Flux Deployment is available.

The same artifact is what the management-cluster-flux unit applies to the management cluster, so both clusters
run the same Flux. Images move to `upstreams.flux.image_registry` when the values point it at a mirror.
"""

from __future__ import annotations

import asyncio
import io
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from cluster_init import tools, yamlfile
from cluster_init.bootstrap import registry
from cluster_init.errors import RuntimeFailure
from cluster_init.kube import Client
from cluster_init.kube.apply import apply
from cluster_init.kube.status import condition, readiness

UPSTREAM_REGISTRY = "ghcr.io/fluxcd"
NAMESPACE = "flux-system"
# A unit waits on its child Kustomization and holds one of the controller's workers meanwhile: with Flux's default
# 4 workers, five provider units in parallel starve their own children. A dependency is rechecked every second instead
# of 30 s, so a unit starts soon after what it needs is Ready. kustomize-components/management-cluster-flux sets
# the same on the management cluster.
TUNING = {"kustomize-controller": ["--concurrent=20", "--requeue-dependency=1s"],
          "helm-controller": ["--concurrent=10", "--requeue-dependency=1s"]}
# A controller's first readiness probe comes before it serves (source-controller's artifact server starts once
# it leads), and Flux probes every 10 s: probed every second, it is seen Ready about 9 s sooner.
READINESS_PERIOD = 1
# On the kind bootstrap cluster Flux runs on the node's network (`on_node_network`): its controllers start with the
# node, while its pod network (the CNI) and kube-proxy are still starting (8-16 s measured), so that the release, its
# units and cert-manager's chart are installed by the time the node is Ready. Each controller gets its own metrics
# and health ports there (they share one network namespace).
NODE_PORTS = {"source-controller": {"http-prom": 8080, "healthz": 9440},
              "kustomize-controller": {"http-prom": 8081, "healthz": 9441},
              "helm-controller": {"http-prom": 8082, "healthz": 9442}}
PORT_FLAGS = {"http-prom": "--metrics-addr", "healthz": "--health-addr"}


def manifests(flux: dict[str, Any]) -> list[dict[str, Any]]:
    """The objects of the Flux install artifact at `flux` (the values' upstreams.flux)."""
    reference, insecure = registry.host_view(f"{str(flux['url']).removeprefix('oci://')}:{flux['version']}")
    if flux.get("insecure"):
        insecure = True
    with tempfile.TemporaryDirectory(prefix="cluster-init-flux-") as tmp:
        archive = Path(tmp) / "flux.tar"
        proc = tools.run("crane", ["export", reference, str(archive), *(["--insecure"] if insecure else [])],
                         limit=300)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            raise RuntimeFailure(f"fetching Flux's install manifests {reference} failed: {last}")
        objects = [tuned(o) for o in _objects(archive.read_bytes())]
    mirror = str(flux.get("image_registry") or UPSTREAM_REGISTRY)
    return [_relocated(o, mirror) for o in objects] if mirror != UPSTREAM_REGISTRY else objects


def _objects(archive: bytes) -> list[dict[str, Any]]:
    """Every object of the artifact's YAML files, or of its kustomization when it has one."""
    with tempfile.TemporaryDirectory(prefix="cluster-init-flux-") as tmp, \
            tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(tmp, filter="data")
        root = Path(tmp)
        if (root / "kustomization.yaml").is_file():
            built = tools.run("kustomize", ["build", tmp])
            if built.returncode != 0:
                raise RuntimeFailure(f"kustomize build of Flux's install failed: {built.stderr.strip()[-300:]}")
            return yamlfile.objects("kustomize", built.stdout)
        found = []
        for path in sorted(root.rglob("*.y*ml")):
            found += [d for d in yamlfile.parse_all(path.read_text()) if isinstance(d, dict) and d.get("kind")]
        return found


def tuned(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with TUNING and READINESS_PERIOD when it is one of Flux's Deployments."""
    if obj.get("kind") != "Deployment":
        return obj
    container = obj["spec"]["template"]["spec"]["containers"][0]
    if "readinessProbe" in container:
        container["readinessProbe"]["periodSeconds"] = READINESS_PERIOD
    extra = TUNING.get(str(obj["metadata"].get("name")))
    if extra:
        flags = {a.split("=")[0] for a in extra}
        container["args"] = [a for a in container.get("args", []) if a.split("=")[0] not in flags] + extra
    return obj


def on_node_network(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` run on the node's network when it is one of Flux's Deployments. It reaches the API server on the node's
    address (the `kubernetes` Service needs kube-proxy), names through the node's resolver (cluster DNS needs the pod
    network), and source-controller serves artifacts on the node's address instead of its Service's name."""
    if obj.get("kind") != "Deployment" or obj["metadata"].get("name") not in NODE_PORTS:
        return obj
    pod = obj["spec"]["template"]["spec"]
    pod["hostNetwork"] = True
    pod["dnsPolicy"] = "Default"
    not_ready = {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoSchedule"}
    pod["tolerations"] = [*[t for t in pod.get("tolerations", []) if t != not_ready], not_ready]
    container = pod["containers"][0]
    container["env"] = [{"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
                        {"name": "KUBERNETES_SERVICE_HOST", "value": "$(HOST_IP)"},
                        {"name": "KUBERNETES_SERVICE_PORT", "value": "6443"},
                        *[e for e in container.get("env", []) if not e["name"].startswith(("HOST_IP", "KUBERNETES_"))]]
    ports = NODE_PORTS[obj["metadata"]["name"]]
    args = [a for a in container.get("args", []) if a.split("=")[0] not in PORT_FLAGS.values()]
    args += [f"{PORT_FLAGS[name]}=:{port}" for name, port in ports.items()]
    container["args"] = [f"--storage-adv-addr=$(HOST_IP):{_port(container, 'http')}"
                         if a.startswith("--storage-adv-addr=") else a for a in args]
    for port in container.get("ports", []):
        port["containerPort"] = ports.get(port["name"], port["containerPort"])
    return obj


def _port(container: dict[str, Any], name: str) -> int:
    return int(next(p["containerPort"] for p in container.get("ports", []) if p["name"] == name))


def _relocated(obj: dict[str, Any], mirror: str) -> dict[str, Any]:
    if obj.get("kind") != "Deployment":
        return obj
    for container in obj["spec"]["template"]["spec"].get("containers", []):
        container["image"] = str(container["image"]).replace(UPSTREAM_REGISTRY + "/", mirror.rstrip("/") + "/", 1)
    return obj


def images(objects: list[dict[str, Any]]) -> list[str]:
    """The images of Flux's controllers, as its Deployments name them."""
    return sorted({str(c["image"]) for o in objects if o.get("kind") == "Deployment"
                   for c in o["spec"]["template"]["spec"].get("containers", [])})


async def install(client: Client, objects: list[dict[str, Any]], timeout: float = 300) -> None:
    """Apply (idempotent: server-side apply) the namespace and CRDs first, then the controllers, which start
    meanwhile (`running` checks them); return once the CRDs are established, so that Flux's objects can be
    applied next."""
    first = ("Namespace", "CustomResourceDefinition")
    for obj in [o for o in objects if o["kind"] in first] + [o for o in objects if o["kind"] not in first]:
        await apply(client, obj, strict=False)
    await _wait(client, [o for o in objects if o["kind"] == "CustomResourceDefinition"], time.monotonic() + timeout,
                every=0.2)


async def running(client: Client, objects: list[dict[str, Any]], timeout: float = 300) -> None:
    """Wait until every Flux controller's Deployment is available."""
    await _wait(client, [o for o in objects if o["kind"] == "Deployment"], time.monotonic() + timeout)


async def _wait(client: Client, objects: list[dict[str, Any]], deadline: float, every: float = 1) -> None:
    for obj in objects:
        res = await client.resource_of(obj)
        meta = obj["metadata"]
        while True:
            current = await client.get(res, meta["name"], meta.get("namespace"))
            status = readiness(current)
            if status.ready:
                break
            if time.monotonic() > deadline:
                raise RuntimeFailure(await _node_not_ready(client) or
                                     f"Flux's {obj['kind']} {meta['name']} not ready in time: {status.message}")
            await asyncio.sleep(every)


async def _node_not_ready(client: Client) -> str | None:
    """Why nothing can run, when it is a node that is not Ready (kind returns before its node is)."""
    for node in await client.list(await client.resource("v1", "Node")):
        ready = condition(node, "Ready") or {}
        if ready.get("status") != "True":
            name, why = node["metadata"]["name"], ready.get("message") or "no Ready condition"
            return (f"the bootstrap cluster's node {name} is not Ready ({why}), so Flux's controllers cannot start: "
                    f"see `kubectl describe node {name}`")
    return None
