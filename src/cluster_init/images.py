"""The bill of materials of an environment: every image, chart and Flux source it needs, and which unit needs it.

Derived from the rendered bundle and the pinned upstream manifests, never from a list kept by hand, so a
mirror built from it (`cluster-init mirror`) holds exactly what an air-gapped install pulls. We do what Flux
would do, offline: render the chart for each context, build each unit's kustomization (and each child Flux
Kustomization's path inside the upstream tree, from its Go module zip) with its images, patches and
post-build variables, render the upstream Helm charts with their HelmRelease's values, and read the images
from what comes out. Where the objects land decides the context: a Flux object with a `kubeConfig` applies
to the management cluster, anything else to the cluster it lives on.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cluster_init import flux, helm, pins, plan, render, tools, upstream, yamlfile
from cluster_init.environment import Environment
from cluster_init.errors import RuntimeFailure
from cluster_init.paths import bundle_root
from cluster_init.values import coalesce, merged

KINDS = ("image", "chart", "source")
CONTEXTS = ("bootstrap", "management")
CLI = "cli"  # what `cluster-init bootstrap` installs itself: Flux, the chart's release and its source
BUNDLE_SOURCE = "cluster-init"  # the Flux source of this repository, which every unit is built from
SOURCE_KINDS = ("GitRepository", "OCIRepository", "HelmRepository", "Bucket")
POD_LISTS = ("containers", "initContainers", "ephemeralContainers")
IMAGE_ARG = re.compile(r"^--[a-z0-9-]*image=(\S+)$")
# CAPD runs each DockerCluster's load balancer from an image its code names; we read those names from
# the pinned tree rather than keep them here.
CAPD_LOAD_BALANCER = ("cluster-api", "./test/infrastructure/docker/internal/loadbalancer/const.go")
CAPD_CLUSTER_KINDS = ("DockerCluster", "DockerClusterTemplate")


@dataclass(frozen=True, order=True)
class Artifact:
    """One thing to pull. `ref` is fully qualified (`registry.k8s.io/x:v1`, `docker.io/kindest/node:v1`) for
    images, `<repo url>/<chart>:<version>` for charts, `<url>@<tag>` (git) or `<url>:<tag>` (OCI) or the URL
    (Helm repository) for sources. `upstream`/`version` name the pinned upstream a chart or source comes from
    (None for the user's own bundle repository), so a mirror can re-publish it from its module."""

    kind: str
    ref: str
    units: tuple[str, ...]
    contexts: tuple[str, ...]
    upstream: str | None = None
    version: str | None = None


def bill_of_materials(env: Environment, contexts: Sequence[str] = CONTEXTS,
                      namespace: str = helm.DEFAULT_NAMESPACE) -> list[Artifact]:
    """Every artifact needed in `contexts`, sorted by kind then reference."""
    with tempfile.TemporaryDirectory(prefix="cluster-init-images-") as work:
        bom = _Bom(env, Path(work))
        bom.cli_install(namespace)
        for context in CONTEXTS:
            bom.objects(helm.template(env, context, namespace), helm.RELEASE, context)
        return bom.artifacts(contexts)


def qualified(ref: str) -> str:
    """An image reference as containerd reports it: registry host, `library/` for Docker Hub's own, a tag."""
    name, at, digest = ref.partition("@")
    first, slash, rest = name.partition("/")
    if not slash or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name if slash else 'library/' + name}"
    elif first in ("index.docker.io", "registry-1.docker.io"):
        name = f"docker.io/{rest}"
    if name.startswith("docker.io/") and name.count("/") == 1:
        name = name.replace("docker.io/", "docker.io/library/", 1)
    if not at and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name + at + digest


def pod_images(node: Any) -> Iterator[str]:
    """The images of every container list under `node`, and those its containers take as `--…-image=` flags."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in POD_LISTS and isinstance(value, list):
                yield from (i for c in value if isinstance(c, dict) for i in _container_images(c))
            else:
                yield from pod_images(value)
    elif isinstance(node, list):
        for value in node:
            yield from pod_images(value)


def _container_images(container: dict[str, Any]) -> Iterator[str]:
    if isinstance(container.get("image"), str) and container["image"]:
        yield container["image"]
    for arg in [*(container.get("command") or []), *(container.get("args") or [])]:
        if match := IMAGE_ARG.match(str(arg)):
            yield match.group(1)


def custom_images(node: Any) -> Iterator[str]:
    """Machine images given as container images (CAPD's `customImage`)."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "customImage" and isinstance(value, str) and value:
                yield value
            else:
                yield from custom_images(value)
    elif isinstance(node, list):
        for value in node:
            yield from custom_images(value)


class _Bom:
    """The artifacts found so far, and what Flux would know on each cluster (sources, ConfigMaps)."""

    def __init__(self, env: Environment, work: Path) -> None:
        self.env, self.work = env, work
        self.upstreams: dict[str, Any] = coalesce(pins.pins()["upstreams"],
                                                  merged(env, "bootstrap").get("upstreams") or {})
        self.found: dict[tuple[str, str], dict[str, set[str]]] = {}  # (kind, ref) -> context -> units
        self.origin: dict[tuple[str, str], tuple[str | None, str | None]] = {}
        self.configmaps: dict[tuple[str, str], dict[str, str]] = {}  # (cluster, name) -> data
        self.sources: dict[tuple[str, str, str], tuple[str, str | None]] = {}  # (cluster, kind, name) -> ref
        self.uses: dict[tuple[str, str, str], set[str]] = {}
        self.builds: dict[str, list[dict[str, Any]]] = {}
        self.trees: dict[str, Path] = {}
        self.charts = 0

    def add(self, kind: str, ref: str, unit: str, contexts: Sequence[str],
            origin: tuple[str | None, str | None] = (None, None)) -> None:
        per_context = self.found.setdefault((kind, ref), {})
        for context in contexts:
            per_context.setdefault(context, set()).add(unit)
        self.origin.setdefault((kind, ref), origin)

    def artifacts(self, contexts: Sequence[str]) -> list[Artifact]:
        for (cluster, kind, name), (ref, up) in self.sources.items():
            users = self.uses.get((cluster, kind, name), set())
            version = self.upstreams[up]["version"] if up else None
            for unit in sorted(users) or [""]:
                self.add("source", ref, unit, [cluster], (up, version))
        out = []
        for (kind, ref), per_context in self.found.items():
            wanted = [c for c in CONTEXTS if c in per_context and c in contexts]
            if wanted:
                units = sorted({u for c in wanted for u in per_context[c] if u})
                out.append(Artifact(kind, ref, tuple(units), tuple(wanted), *self.origin[(kind, ref)]))
        return sorted(out, key=lambda a: (KINDS.index(a.kind), a.ref))

    # What the CLI installs on the bootstrap cluster before the chart.

    def cli_install(self, namespace: str) -> None:
        """Flux, under upstreams.flux.image_registry as the bundle relocates it, and the chart's release."""
        entry = self.upstreams["flux"]
        pinned, wanted = pins.upstream("flux").get("image_registry"), entry.get("image_registry")
        for obj in self.build(self.tree("flux", "./"), {}):
            for image in pod_images(obj):
                if pinned and wanted and image.startswith(f"{pinned}/"):
                    image = f"{wanted}/{image.removeprefix(pinned + '/')}"
                self.add("image", qualified(image), CLI, ["bootstrap"])
        self.objects(render.bootstrap_release(merged(self.env, "bootstrap"), namespace), CLI, "bootstrap")

    # Objects, as Flux would apply them to `cluster`.

    def objects(self, objs: list[dict[str, Any]], unit: str, cluster: str) -> None:
        for obj in objs:
            self.remember(obj, cluster)
        for obj in objs:
            self.one(obj, unit, cluster)

    def remember(self, obj: dict[str, Any], cluster: str) -> None:
        """ConfigMaps (for substituteFrom) and Flux sources, as found on `cluster`."""
        kind, meta, spec = obj.get("kind"), obj.get("metadata") or {}, obj.get("spec") or {}
        if kind == "ConfigMap" and obj.get("apiVersion") == "v1":
            self.configmaps[(cluster, str(meta.get("name")))] = {str(k): str(v) for k, v in
                                                                 (obj.get("data") or {}).items()}
        elif kind in SOURCE_KINDS and str(obj.get("apiVersion", "")).startswith("source.toolkit.fluxcd.io/"):
            name = str(meta.get("name"))
            self.sources[(cluster, str(kind), name)] = (source_ref(str(kind), spec),
                                                        name if name in self.upstreams else None)

    def one(self, obj: dict[str, Any], unit: str, cluster: str) -> None:
        """One object applied to `cluster` on behalf of `unit` (a unit Kustomization names its own unit)."""
        api, kind = str(obj.get("apiVersion", "")), obj.get("kind")
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if api.startswith("kustomize.toolkit.fluxcd.io/") and kind == "Kustomization":
            self.kustomization(obj, str(labels.get(plan.UNIT_LABEL) or unit), cluster)
        elif api.startswith("helm.toolkit.fluxcd.io/") and kind == "HelmRelease":
            self.helm_release(obj, unit, cluster)
        elif kind != "CustomResourceDefinition":
            for image in pod_images(obj):
                self.add("image", qualified(image), unit, [cluster])
            self.node_images(obj, unit)

    def node_images(self, obj: dict[str, Any], unit: str) -> None:
        """The management cluster's machines: created by the bootstrap cluster's CAPD, then, after the
        pivot, by the management cluster's own; so needed in both contexts."""
        found = list(custom_images(obj))
        if obj.get("kind") in CAPD_CLUSTER_KINDS:
            found.append(self.load_balancer_image(obj))
        for image in found:
            self.add("image", qualified(image), unit, CONTEXTS)

    def load_balancer_image(self, obj: dict[str, Any]) -> str:
        """`<imageRepository>/haproxy:<imageTag>` as CAPD makes it, its defaults read from the pinned CAPD."""
        spec = obj.get("spec") or {}
        if obj.get("kind") == "DockerClusterTemplate":
            spec = (spec.get("template") or {}).get("spec") or {}
        given = spec.get("loadBalancer") or {}
        name, path = CAPD_LOAD_BALANCER
        entry = self.upstreams[name]
        source = upstream.repository_path(name, entry["module"], entry["version"], path)
        text = source.read_text(encoding="utf-8") if source.is_file() else ""
        constants = dict(re.findall(r'^\s*(\w+)\s*=\s*"([^"]*)"', text, re.MULTILINE))
        if not {"Image", "DefaultImageRepository", "DefaultImageTag"} <= constants.keys():
            raise RuntimeFailure(f"cannot read CAPD's load balancer image from {path} of cluster-api "
                                 f"{entry['version']}; set spec.loadBalancer.imageRepository and imageTag")
        repository = given.get("imageRepository") or constants["DefaultImageRepository"]
        return f"{repository}/{constants['Image']}:{given.get('imageTag') or constants['DefaultImageTag']}"

    def kustomization(self, obj: dict[str, Any], unit: str, cluster: str) -> None:
        """A Flux Kustomization living on `cluster`: its path built from its source, as kustomize-controller does."""
        spec = obj.get("spec") or {}
        ref = spec.get("sourceRef") or {}
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        self.uses.setdefault((cluster, kind, name), set()).add(unit)
        root = self.tree(name, str(spec.get("path") or "./"))
        built = self.build(root, spec)
        post = spec.get("postBuild")
        if isinstance(post, dict):
            variables: dict[str, str] = {}
            for item in post.get("substituteFrom") or []:
                if item.get("kind") == "ConfigMap":
                    variables.update(self.configmaps.get((cluster, str(item.get("name"))), {}))
            variables.update({str(k): str(v) for k, v in (post.get("substitute") or {}).items()})
            built = [o if _substitution_disabled(o) else flux.substitute_strings(o, variables) for o in built]
        self.objects(built, unit, "management" if spec.get("kubeConfig") else cluster)

    def helm_release(self, obj: dict[str, Any], unit: str, cluster: str) -> None:
        """An upstream chart: the chart itself, and the images of its rendering with the release's values.
        Our own chart (from the bundle's source) is not one: each context's rendering is read on its own."""
        spec = obj.get("spec") or {}
        chart = (spec.get("chart") or {}).get("spec") or {}
        ref = chart.get("sourceRef") or {}
        kind, name = str(ref.get("kind")), str(ref.get("name"))
        self.uses.setdefault((cluster, kind, name), set()).add(unit)
        if kind != "HelmRepository":
            return
        if name not in self.upstreams:
            raise RuntimeFailure(f"HelmRelease {obj['metadata'].get('name')} of unit {unit} uses HelmRepository "
                                 f"{name}, which is not an upstream in versions.yaml; its images cannot be listed")
        entry, version = self.upstreams[name], str(chart.get("version") or self.upstreams[name]["version"])
        self.add("chart", f"{str(entry['url']).rstrip('/')}/{chart.get('chart')}:{version}", unit, [cluster],
                 (name, version))
        lands = "management" if spec.get("kubeConfig") else cluster
        self.objects(self.upstream_chart(obj, name, str(chart.get("chart")), version), unit, lands)

    def upstream_chart(self, obj: dict[str, Any], name: str, chart: str, version: str) -> list[dict[str, Any]]:
        """`helm template` of the chart from the upstream's module at `version`, stamped with that version as
        the upstream's release tooling does (the tree carries placeholders)."""
        spec, entry = obj["spec"], self.upstreams[name]
        source = upstream.chart_dir(upstream.repository_path(name, entry["module"], version, "./"), chart)
        self.charts += 1
        folder = self.work / f"chart-{self.charts}"
        shutil.copytree(source, folder)
        text = (folder / "Chart.yaml").read_text(encoding="utf-8")
        for field in ("version", "appVersion"):
            text = re.sub(rf"^{field}:.*$", f"{field}: {version}", text, flags=re.MULTILINE)
        (folder / "Chart.yaml").write_text(text, encoding="utf-8")
        namespace = spec.get("targetNamespace") or obj["metadata"].get("namespace") or "default"
        args = ["template", str(spec.get("releaseName") or obj["metadata"]["name"]), str(folder),
                "--namespace", str(namespace), "-f", "-"]
        result = tools.run("helm", args, stdin=json.dumps(spec.get("values") or {}))
        if result.returncode != 0:
            raise RuntimeFailure(f"helm template of the {name} chart {version} failed: {result.stderr.strip()[-300:]}")
        return tool_objects("helm", result.stdout)

    # Trees and builds.

    def tree(self, source: str, path: str) -> Path:
        """The folder a Flux object's path names in its source: this repository, or an upstream's tree."""
        if source == BUNDLE_SOURCE:
            return Path(bundle_root(), path)
        if source not in self.upstreams:
            raise RuntimeFailure(f"a Flux Kustomization uses source {source}, neither this repository nor an "
                                 "upstream in versions.yaml; its images cannot be listed")
        entry = self.upstreams[source]
        if source == "flux":  # the install artifact, built from flux2's manifests
            if "flux" not in self.trees:
                flux2 = upstream.module_dir(entry["module"], entry["version"])
                self.trees["flux"] = upstream.flux_install_tree(flux2, self.work / "flux-install")
            return self.trees["flux"] / path
        return upstream.repository_path(source, entry["module"], entry["version"], path)

    def build(self, root: Path, spec: dict[str, Any]) -> list[dict[str, Any]]:
        """`kustomize build` of `root` with the Flux object's components, patches and images, as
        kustomize-controller adds them (same inputs, same result: built once)."""
        kustomization: dict[str, Any] = {"resources": [os.path.relpath(root, self.work)]}
        for field in ("components", "patches", "images"):
            if spec.get(field):
                kustomization[field] = spec[field]
        if kustomization.get("components"):
            kustomization["components"] = [os.path.relpath(root / c, self.work) for c in kustomization["components"]]
        key = json.dumps(kustomization, sort_keys=True)
        if key not in self.builds:
            (self.work / "kustomization.yaml").write_text(yamlfile.dump_one(kustomization), encoding="utf-8")
            built = tools.run("kustomize", ["build", str(self.work)])
            if built.returncode != 0:
                raise RuntimeFailure(f"kustomize build of {root} failed: {built.stderr.strip()[-300:]}")
            self.builds[key] = tool_objects("kustomize", built.stdout)
        return self.builds[key]


def tool_objects(tool: str, stream: str) -> list[dict[str, Any]]:
    """The objects of a tool's output from pinned upstream manifests, CRDs left out: that output is large
    (Cluster API's CRDs run to megabytes) and trusted, so it is read with the plain fast loader."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    docs = [d for d in re.split(r"^---\s*$", stream, flags=re.MULTILINE)
            if not re.search(r"^kind:\s*CustomResourceDefinition\s*$", d, re.MULTILINE)]
    try:
        found = [o for d in docs for o in yaml.load_all(d, Loader=loader) if o is not None]
    except yaml.YAMLError as e:
        raise RuntimeFailure(f"{tool} printed something that is not YAML ({e}); check the tool") from None
    if not all(isinstance(o, dict) and isinstance(o.get("kind"), str) for o in found):
        raise RuntimeFailure(f"{tool} printed something other than Kubernetes objects; check the tool")
    return found


def _substitution_disabled(obj: dict[str, Any]) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return "disabled" in (annotations.get("kustomize.toolkit.fluxcd.io/substitute"),
                          labels.get("kustomize.toolkit.fluxcd.io/substitute"))


def source_ref(kind: str, spec: dict[str, Any]) -> str:
    """A Flux source as one reference: git `url@ref`, OCI `url:tag` (or `@digest`), a Helm repository's URL."""
    url, ref = str(spec.get("url") or ""), spec.get("ref") or {}
    if kind == "GitRepository":
        named = next((ref[k] for k in ("tag", "semver", "name", "branch", "commit") if ref.get(k)), "")
        return f"{url}@{named}" if named else url
    if kind == "OCIRepository":
        if ref.get("digest"):
            return f"{url}@{ref['digest']}"
        named = ref.get("tag") or ref.get("semver") or ""
        return f"{url}:{named}" if named else url
    if kind == "Bucket":
        return f"{spec.get('endpoint')}/{spec.get('bucketName')}"
    return url
