"""`cluster-init bootstrap`: from nothing to a self-managed management cluster, one step after the other.

Each step is idempotent and keeps no local state (the clusters hold it), so a run killed anywhere is finished by
the next one: the kind cluster is reused, Flux and the release are applied again server-side, the units go on
where they are. Steps: local registry (for `--source local`), bootstrap cluster, Flux, source, release, the units
followed live, the management kubeconfig, the pivot, the check that the management cluster owns itself, and
only then the bootstrap cluster's deletion.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster_init import certificates, follow, output, render, unitstate
from cluster_init.environment import Environment
from cluster_init.errors import RuntimeFailure
from cluster_init.kube import ApiError, KubeConfig
from cluster_init.kube.apply import apply
from cluster_init.kube.client import Client
from cluster_init.kube.watch import watch
from cluster_init.progress import step
from cluster_init.values import merged

LOCAL_REPOSITORY = "cluster-init"
SOURCE_AUTH_SECRET = "cluster-init-source-auth"  # the git remote's credentials, from `secrets.source`
DEFINITIONS_UNIT = "management-cluster"  # the cluster definitions unit
SELF_MANAGED_KINDS = (("cluster.x-k8s.io/v1beta2", "Cluster"), ("kustomize.toolkit.fluxcd.io/v1", "Kustomization"),
                      ("helm.toolkit.fluxcd.io/v2", "HelmRelease"))  # what `_not_self_managed` reads


@dataclass(frozen=True)
class Options:
    kind_name: str | None  # None with `kubeconfig`: an existing cluster, never deleted
    kubeconfig: Path | None
    source: str  # "local" or "git URL@REF"
    namespace: str
    timeout: float
    output: str
    management_kubeconfig: Path | None = None  # default ./<cluster>.kubeconfig
    keep_bootstrap: bool = False


def run(env: Environment, options: Options) -> int:
    values = merged(env, "bootstrap")
    with tempfile.TemporaryDirectory(prefix="cluster-init-") as work:
        source = _source(options.source, values, env.directory)
        config = _bootstrap_cluster(options, values, Path(work))
        _install(config, env, values, options, source)
        if options.kind_name is not None:
            from cluster_init.bootstrap import kind

            kind.prefetch(options.kind_name, [_pivot_image(values)])
        code = _follow(config, options)
        if code != follow.READY:
            return code
        if not on(config, lambda c: _pivoted(c, options.namespace)):
            print("stopped before the pivot: a unit it depends on is suspended in the values; "
                  "the bootstrap cluster stays", file=sys.stderr)
            return follow.READY
        _hand_over(config, options, str(values["cluster"]["name"]))
    if options.kind_name is not None and not options.keep_bootstrap:
        from cluster_init.bootstrap import kind

        with step(f"bootstrap cluster {options.kind_name} deleted"):
            kind.delete(options.kind_name)
    return follow.READY


def _install(config: KubeConfig, env: Environment, values: dict[str, Any], options: Options,
             source: dict[str, Any]) -> None:
    """Flux, then the release (applied while Flux's controllers start: they take it up from their first
    second), then Flux running; once the pivot Job exists the release stays as it is."""
    from cluster_init.bootstrap import fluxinstall

    with step("Flux installed"):
        objects = fluxinstall.manifests(_upstream(values, "flux"))
        if options.kind_name is not None:
            from cluster_init.bootstrap import kind

            objects = [fluxinstall.on_node_network(o) for o in objects]
            kind.prefetch(options.kind_name, fluxinstall.images(objects))
        on(config, lambda c: fluxinstall.install(c, objects))
    if on(config, lambda c: _pivot_begun(c, options.namespace)):
        print("release left as it is: the pivot has begun (a new revision now could undo what it did)",
              file=sys.stderr)
    else:
        with step(f"release applied ({source['kind']} {source['url']} {source['ref']})"):
            release = render.cli_objects(env, options.namespace, source)
            on(config, lambda c: _apply_all(c, release))
    with step("Flux's controllers running"):
        on(config, lambda c: fluxinstall.running(c, objects))


def _hand_over(config: KubeConfig, options: Options, name: str) -> None:
    """The management kubeconfig written, and the proof that the management cluster manages itself."""
    target = options.management_kubeconfig or Path(f"{name}.kubeconfig")
    with step(f"management cluster's kubeconfig written to {target}"):
        from cluster_init.commands.kubeconfig import read, write_private

        write_private(target, on(config, lambda c: read(c, options.namespace, name))[1])
    with step(f"management cluster {name} manages itself"):
        _check_self_managed(config, KubeConfig.load(target), options.namespace, name)


async def _pivot_begun(client: Client, namespace: str) -> bool:
    """The pivot Job exists: from then on the release stays as it is until the move is done."""
    return await client.find(await client.resource("batch/v1", "Job"), follow.PIVOT_JOB, namespace) is not None


async def _pivoted(client: Client, namespace: str) -> bool:
    """The pivot Job has succeeded (the pivot unit says so too, at its next health check)."""
    job = await client.find(await client.resource("batch/v1", "Job"), follow.PIVOT_JOB, namespace)
    return job is not None and unitstate.pivot_done(job)


def _check_self_managed(bootstrap: KubeConfig, management: KubeConfig, namespace: str, name: str,
                        timeout: float = 1200) -> None:
    """Every Cluster API object is gone from the bootstrap cluster, and on the management cluster its own
    controllers have the Cluster (unpaused, its latest generation observed, Available) and its own Flux the cluster
    definitions."""
    left = on(bootstrap, lambda c: _clusters(c, namespace))
    if left:
        raise RuntimeFailure(f"the bootstrap cluster still holds Cluster {', '.join(left)}: the pivot did not finish; "
                             "run bootstrap again to resume it")
    on(management, lambda c: _until_self_managed(c, namespace, name, timeout))


async def _until_self_managed(client: Client, namespace: str, name: str, timeout: float,
                              fallback: float = 5.0) -> None:
    """`_not_self_managed` again at each change of what it reads (watched), or every `fallback` seconds should a
    watch fail."""
    changed = asyncio.Event()

    async def feed(api_version: str, kind: str) -> None:
        async for _ in watch(client, await client.resource(api_version, kind), namespace):
            changed.set()

    feeds = [asyncio.create_task(feed(*kind)) for kind in SELF_MANAGED_KINDS]
    deadline = time.monotonic() + timeout
    try:
        while True:
            changed.clear()
            if (why := await _not_self_managed(client, namespace, name)) is None:
                return
            if (left := deadline - time.monotonic()) <= 0:
                raise RuntimeFailure(f"the management cluster does not manage Cluster {name}: {why}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), timeout=min(left, fallback))
    finally:
        for task in feeds:
            task.cancel()
        await asyncio.gather(*feeds, return_exceptions=True)


async def _clusters(client: Client, namespace: str) -> list[str]:
    try:
        res = await client.resource("cluster.x-k8s.io/v1beta2", "Cluster")
    except ApiError:
        return []
    return sorted(str(c["metadata"]["name"]) for c in await client.list(res, namespace))


async def _not_self_managed(client: Client, namespace: str, name: str) -> str | None:
    from cluster_init.kube.status import condition

    try:
        cluster = await client.get(await client.resource("cluster.x-k8s.io/v1beta2", "Cluster"), name, namespace)
    except ApiError as e:
        return f"no Cluster there ({e.status})"
    status = cluster.get("status") or {}
    if (cluster.get("spec") or {}).get("paused"):
        return "it is still paused"
    if status.get("observedGeneration") != cluster["metadata"].get("generation"):
        return "its controllers have not observed it yet"
    available = condition(cluster, "Available") or {}
    if available.get("status") != "True":
        return f"not Available: {available.get('message', 'no condition')}"
    try:
        return await _flux_there(client, namespace)
    except ApiError as e:
        return f"its Flux objects cannot be read yet ({e.status})"


async def _flux_there(client: Client, namespace: str) -> str | None:
    """The management cluster's own Flux runs the cluster definitions unit (rendered there only by the upgrade
    the pivot's mark starts) and every unit there is Ready: what that upgrade's own wait checks, read at once
    instead of at helm-controller's 5 s poll, which reports the release Ready a few seconds later."""
    from cluster_init.kube.status import FAILED, readiness

    release = await client.find(await client.resource("helm.toolkit.fluxcd.io/v2", "HelmRelease"), follow.RELEASE,
                                namespace)
    if release is None:
        return f"its HelmRelease {follow.RELEASE} is not there yet"
    if (state := readiness(release)).state == FAILED:
        return f"its HelmRelease {follow.RELEASE} failed: {state.message}"
    units = await client.list(await client.resource("kustomize.toolkit.fluxcd.io/v1", "Kustomization"), namespace)
    if not any(u["metadata"]["name"] == DEFINITIONS_UNIT for u in units):
        return f"its Kustomization {DEFINITIONS_UNIT} is not there yet (the release's upgrade after the pivot)"
    for unit in sorted(units, key=lambda u: str(u["metadata"]["name"])):
        status = readiness(unit)
        if not status.ready:
            return f"its Kustomization {unit['metadata']['name']} is not Ready yet: {status.message}"
    return None


def _source(choice: str, values: dict[str, Any], env_dir: Path) -> dict[str, Any]:
    """The chart's `source` values for `--source`: this working tree pushed to the local registry, or a git ref
    (with the credentials of `secrets.source`, and the environment's folder when it is in a git checkout)."""
    if choice == "local":
        from cluster_init import publish
        from cluster_init.bootstrap import registry

        with step(f"local registry {registry.NAME} running"):
            address = registry.ensure()
        with step("working tree pushed to the local registry"):
            published = publish.publish(f"{address}/{LOCAL_REPOSITORY}", insecure=True)
        return {"kind": "OCIRepository", "url": f"oci://{registry.in_cluster()}/{LOCAL_REPOSITORY}",
                "ref": published.tag, "insecure": True}
    url, _, ref = choice.removeprefix("git ").rpartition("@")
    source = {**values["source"], "kind": "GitRepository", "url": url, "ref": ref, "insecure": False}
    if ((values.get("secrets") or {}).get("source")) and not source.get("secret_ref"):
        source["secret_ref"] = SOURCE_AUTH_SECRET
    folder = environment_path(env_dir)
    if folder is not None:
        source["environment_path"] = folder
        print(f"the management cluster reads {folder}/values.yaml from {url}: push a change there to apply it",
              file=sys.stderr)
    return source


def environment_path(env_dir: Path) -> str | None:
    """`./<folder>` of the environment inside its git checkout (the source's layout), None outside one."""
    import subprocess

    found = subprocess.run(["git", "-C", str(env_dir), "rev-parse", "--show-prefix"], capture_output=True,
                           text=True, check=False)
    prefix = found.stdout.strip().rstrip("/")
    return f"./{prefix}" if found.returncode == 0 and prefix else None


def connect(kind_name: str | None, kubeconfig: Path | None, work: Path) -> KubeConfig:
    """The bootstrap cluster's config: the kubeconfig given, else kind's copy of the kind cluster's."""
    if kubeconfig is not None:
        return KubeConfig.load(kubeconfig)
    from cluster_init.bootstrap import kind

    if not kind.exists(str(kind_name)):
        raise RuntimeFailure(f"there is no kind cluster {kind_name}; give --kind NAME or --kubeconfig FILE")
    return KubeConfig.load(kind.kubeconfig(str(kind_name), work))


def _bootstrap_cluster(options: Options, values: dict[str, Any], work: Path) -> KubeConfig:
    """The kind cluster created unless it exists (never with --kubeconfig), its CoreDNS probed every second, then
    connected to as `connect` does."""
    if options.kubeconfig is None:
        from cluster_init.bootstrap import kind

        node = _upstream(values, "kind-node")
        with step(f"bootstrap cluster {options.kind_name} (kind)"):
            kind.ensure(str(options.kind_name), f"{node['url']}:{node['version']}")
            config = connect(options.kind_name, options.kubeconfig, work)
            on(config, _dns_probed_every_second)
        return config
    return connect(options.kind_name, options.kubeconfig, work)


async def _dns_probed_every_second(client: Client) -> None:
    """kubeadm probes CoreDNS's readiness every 10 s. When the first probe comes before CoreDNS serves, the cluster
    has no DNS for up to 10 s more (Ready 11 s after scheduling instead of 3 here), and Flux's first fetch waits."""
    deployments = await client.resource("apps/v1", "Deployment")
    coredns = await client.find(deployments, "coredns", "kube-system")
    if coredns is None:
        return
    for index, container in enumerate(coredns["spec"]["template"]["spec"]["containers"]):
        period = (container.get("readinessProbe") or {}).get("periodSeconds")
        if container.get("name") == "coredns" and period not in (None, 1):
            path = f"/spec/template/spec/containers/{index}/readinessProbe/periodSeconds"
            patch = [{"op": "test", "path": path, "value": period}, {"op": "replace", "path": path, "value": 1}]
            await client.patch(deployments, "coredns", "kube-system", patch, json_patch=True)


def _pivot_image(values: dict[str, Any]) -> str:
    """The pivot Job's image, as the chart names it (CLUSTER_INIT_IMAGE)."""
    own = _upstream(values, "cluster-init")
    return f"{own['image_registry']}/cluster-init:{own['version']}"


def _upstream(values: dict[str, Any], name: str) -> dict[str, Any]:
    """A pinned upstream with the values' overrides (what the chart itself reads)."""
    from cluster_init import pins

    return {**pins.upstream(name), **((values.get("upstreams") or {}).get(name) or {})}


def _follow(config: KubeConfig, options: Options) -> int:
    """Follow the units until every one that can finish has (a suspended unit stops what depends on it), and
    meanwhile end cert-manager's hour-long backoff after its key race (`certificates`)."""
    async def work(client: Client) -> int:
        renewing = asyncio.create_task(certificates.keep_renewing(client, lambda line: output.problem("warning", line)))
        try:
            return await follow.follow(client, options.namespace, options.timeout, follow.printer(options.output),
                                       follow.moved)
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)

    code: int = on(config, work)
    if code == follow.TIMED_OUT:
        print(f"error: the units were not Ready within {options.timeout:.0f}s; see `cluster-init status`, "
              "then run bootstrap again to go on", file=sys.stderr)
    return code


async def _apply_all(client: Client, objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        await apply(client, obj, strict=False)


def on(config: KubeConfig, work: Any) -> Any:
    """Run `work(client)` on the cluster of `config`."""
    async def go() -> Any:
        async with Client(config, timeout=30.0) as client:
            return await work(client)

    return asyncio.run(go())
