"""Copy an environment's bill of materials into a registry the user names, for air-gapped installs.

Layout in the target (REGISTRY may carry a path prefix):
- images keep their upstream names: `REGISTRY/<registry host>/<repository>:<tag>`, the way containerd mirrors
  (and the test stack's registry) lay them out, so the chart's `image_registry` overrides are a prefix away;
- Flux sources at `REGISTRY/sources/<upstream>:<version>` as Flux OCI artifacts: OCI ones copied, git ones
  re-published from the pinned module's tree (`upstream`), since an OCIRepository serves the same files;
- Helm charts at `REGISTRY/charts/<chart>:<version>` (OCI charts copied; https ones pulled and pushed with helm).

With a source registry (`--from`), everything is read from it under the same layout: a registry that mirror
itself filled, as in a chain of air-gapped registries. Copies go through crane, which keeps digests. A run
is idempotent: what the target already holds with the same digest is skipped, so a killed run run again
finishes the rest.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cluster_init import tools
from cluster_init.errors import RuntimeFailure
from cluster_init.images import Artifact

# A registry with an optional path: the pattern of `image_registry` in values.schema.json (no scheme, no user).
REGISTRY = re.compile(r"[a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*")
MISSING = ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "404 Not Found")  # crane's words for "no such tag here"
COPY_TIMEOUT = 3600.0  # one image of several GB over a slow link; CLUSTER_INIT_TOOL_TIMEOUT raises it further


def registry_problem(text: str) -> tuple[str, str] | None:
    """(what is wrong, what to do) when `text` is not host[:port][/path], else None; never echoes credentials."""
    if "@" in text:
        return "names a user or password", "give host[:port][/path] and log in with `docker login` instead"
    if not REGISTRY.fullmatch(text) or len(text) > 255:
        shown = text[:80].encode("unicode_escape").decode()
        return (f"`{shown}` is not a registry reference",
                "give host[:port][/path] in lowercase, without a scheme, e.g. registry.example:5000/mirror")
    return None


@dataclass(frozen=True)
class Step:
    """One artifact to put at `target`: copied from `source`, or made here (`make`: "tree" or "helm")."""

    artifact: Artifact
    target: str
    source: str = ""
    make: str = "copy"
    url: str = ""  # what "tree"/"helm" make it from: the upstream's git URL or Helm repository


@dataclass(frozen=True)
class Result:
    step: Step
    action: str  # copied, pushed, skipped or failed
    digest: str
    seconds: float
    error: str = ""


def split_ref(ref: str) -> tuple[str, str]:
    """`name:tag` or `name@digest` -> (name, ":tag" / "@digest"); a digest wins over a tag."""
    if "@" in ref:
        name, _, digest = ref.partition("@")
        return name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name, f"@{digest}"
    head, _, last = ref.rpartition("/")
    if ":" in last:
        repo, _, tag = last.partition(":")
        return f"{head}/{repo}" if head else repo, f":{tag}"
    return ref, ":latest"


def full_name(name: str) -> str:
    """A repository's full name: docker.io's short names spelled out (`kindest/node` -> `docker.io/kindest/node`)."""
    first, _, rest = name.partition("/")
    if "." in first or ":" in first or first == "localhost":
        return name
    return f"docker.io/{name}" if rest else f"docker.io/library/{name}"


def image_path(ref: str) -> str:
    """An image's path in a mirror: its full name and its tag (or digest)."""
    name, tail = split_ref(ref)
    return full_name(name) + tail


def tag(version: str) -> str:
    """An OCI tag for a version (`+` is not allowed in tags; helm writes it as `_`)."""
    return version.replace("+", "_")


def chart_parts(ref: str) -> tuple[str, str, str]:
    """`<repo url>/<chart>:<version>` -> (repo url, chart, version)."""
    rest, _, version = ref.rpartition(":")
    url, _, chart = rest.rpartition("/")
    return url, chart, version


def steps(bom: Sequence[Artifact], upstreams: dict[str, dict[str, Any]], to: str,
          source_registry: str | None) -> tuple[list[Step], list[str]]:
    """What to put where, and notes on what is left out (and why)."""
    out, notes = [], []
    for artifact in bom:
        step = _step(artifact, upstreams, to)
        if isinstance(step, str):
            notes.append(step)
        elif source_registry:  # everything from the source registry, under the same layout
            path = step.target.removeprefix(f"{to}/")
            out.append(Step(artifact, step.target, f"{source_registry}/{path}"))
        else:
            out.append(step)
    return out, notes


def _step(artifact: Artifact, upstreams: dict[str, dict[str, Any]], to: str) -> Step | str:
    if artifact.kind == "image":
        return Step(artifact, f"{to}/{image_path(artifact.ref)}", image_path(artifact.ref))
    if artifact.kind == "chart":
        url, chart, version = chart_parts(artifact.ref)
        target = f"{to}/charts/{chart}:{tag(version)}"
        if url.startswith("oci://"):
            return Step(artifact, target, f"{url.removeprefix('oci://')}/{chart}:{tag(version)}")
        return Step(artifact, target, make="helm", url=url)
    return _source_step(artifact, upstreams, to)


def _source_step(artifact: Artifact, upstreams: dict[str, dict[str, Any]], to: str) -> Step | str:
    name, version = artifact.upstream, artifact.version
    entry = upstreams.get(name or "", {})
    kind, url = entry.get("kind"), str(entry.get("url", ""))
    if not kind or version is None:  # not a pinned Flux source: this project's own repository
        return (f"source {artifact.ref}: the bundle's own repository is not mirrored; "
                "serve it from your git mirror, or push it with `bootstrap --source local`")
    target = f"{to}/sources/{name}:{tag(version)}"
    if kind == "HelmRepository":
        return f"source {artifact.ref}: a Helm repository; its chart is mirrored under charts/"
    if kind == "OCIRepository":
        return Step(artifact, target, f"{url.removeprefix('oci://')}:{tag(version)}")
    return Step(artifact, target, make="tree", url=url)


def crane(args: list[str], insecure: bool, limit: float | None = None) -> tuple[int, str, str]:
    """Run crane; returns (exit code, stdout, the last line of stderr)."""
    proc = tools.run("crane", [*args, *(["--insecure"] if insecure else [])], limit=limit)
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    last = lines[-1].removeprefix("Error: ") if lines else "no message"
    return proc.returncode, proc.stdout.strip(), last.split('; Get "http://')[0]  # not crane's retry over http too


def remote_digest(ref: str, insecure: bool) -> str | None:
    """The digest of `ref`, None when the registry has no such tag; RuntimeFailure when it cannot be asked."""
    code, out, err = crane(["digest", ref], insecure)
    if code == 0:
        return out
    if any(word in err for word in MISSING):
        return None
    raise RuntimeFailure(f"cannot read {ref}: {err}")


def manifest(ref: str, insecure: bool) -> dict[str, Any]:
    import json

    code, out, err = crane(["manifest", ref], insecure)
    if code != 0:
        raise RuntimeFailure(f"cannot read the manifest of {ref}: {err}")
    data: dict[str, Any] = json.loads(out)
    return data


def copy(step: Step, have: str | None, insecure: bool) -> tuple[str, str]:
    """crane copy, unless the target has the source's digest already; (action, digest)."""
    want = remote_digest(step.source, insecure)
    if want is None:
        raise RuntimeFailure(f"{step.source} does not exist")
    if want == have:
        return "skipped", want
    code, _, err = crane(["copy", step.source, step.target], insecure, max(tools.timeout(), COPY_TIMEOUT))
    if code != 0:
        raise RuntimeFailure(f"copying {step.source} failed: {err}")
    if (got := remote_digest(step.target, insecure)) != want:
        raise RuntimeFailure(f"{step.target} has digest {got} after the copy, not {want}")
    return "copied", want


def publish_tree(step: Step, have: str | None, insecure: bool) -> tuple[str, str]:
    """A git upstream as a Flux artifact of its pinned tree (the folders the units use), from the module proxy."""
    from cluster_init import oci, pins, upstream

    name, version = step.artifact.upstream or "", step.artifact.version or ""
    files: dict[str, bytes] = {}
    for module, prefix, folders in upstream.TREES.get(name, [(pins.upstream(name)["module"], "", [])]):
        root = upstream.module_dir(module, version)
        for rel, data in oci.folder_files(root, folders).items():
            files[f"{prefix}/{rel}" if prefix else rel] = data
    body, blobs = oci.artifact(files, step.url or name, version)
    if oci.digest(body) == have:
        return "skipped", have
    return "pushed", oci.push(step.target, body, blobs, insecure)


def publish_chart(step: Step, have: str | None, insecure: bool) -> tuple[str, str]:
    """A chart of an https Helm repository, pulled with helm and pushed as an OCI chart (skipped when the
    target's chart layer is the same archive)."""
    import hashlib
    import tempfile
    from pathlib import Path

    _, chart, version = chart_parts(step.artifact.ref)
    with tempfile.TemporaryDirectory(prefix="cluster-init-chart-") as tmp:
        _helm(["pull", chart, "--repo", step.url, "--version", version, "--destination", tmp])
        archive = next(Path(tmp).glob("*.tgz"))
        layer = "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
        if have and any(d.get("digest") == layer for d in manifest(step.target, insecure).get("layers", [])):
            return "skipped", have
        repo = "oci://" + step.target.rpartition(":")[0].rpartition("/")[0]
        _helm(["push", str(archive), repo, *(["--plain-http"] if insecure else [])])
    return "pushed", remote_digest(step.target, insecure) or ""


def _helm(args: list[str]) -> None:
    proc = tools.run("helm", args, limit=max(tools.timeout(), COPY_TIMEOUT))
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeFailure(f"helm {args[0]} failed: {last}")


MAKERS: dict[str, Callable[[Step, str | None, bool], tuple[str, str]]] = {
    "copy": copy, "tree": publish_tree, "helm": publish_chart}


TARGET_HINT = "check --to, that this machine reaches it (--insecure for plain HTTP) and your `docker login`"
SOURCE_HINT = "check that it exists there, that this machine reaches it and your `docker login` for it"


def mirror_one(step: Step, insecure: bool) -> Result:
    """One artifact. A target that cannot be asked stops the run (RuntimeFailure); anything else wrong with
    this artifact is its failed Result, and the run goes on."""
    start = time.monotonic()
    try:
        have = remote_digest(step.target, insecure)
    except RuntimeFailure as e:
        raise RuntimeFailure(f"the target registry: {e}; {TARGET_HINT}") from None
    try:
        action, digest = MAKERS[step.make](step, have, insecure)
    except RuntimeFailure as e:
        return Result(step, "failed", "", time.monotonic() - start, f"{e}; {SOURCE_HINT}")
    return Result(step, action, digest, time.monotonic() - start)


def run(plan: Sequence[Step], insecure: bool, progress: Callable[[int, Result], None]) -> list[Result]:
    results = []
    for i, step in enumerate(plan, 1):
        results.append(mirror_one(step, insecure))
        progress(i, results[-1])
    return results


def progress_line(total: int) -> Callable[[int, Result], None]:
    """One stderr line per artifact: count, what, where it went or why not, time taken."""
    from cluster_init.output import escape

    def show(i: int, r: Result) -> None:
        what = f"[{i}/{total}] {r.step.artifact.kind} {r.step.artifact.ref}"
        done = f"{r.action} {r.digest[:19]}" if r.action != "failed" else f"FAILED: {r.error}"
        print(escape(f"{what} -> {r.step.target}: {done} ({r.seconds:.1f}s)"), file=sys.stderr, flush=True)
    return show


def values(results: Sequence[Result], upstreams: dict[str, dict[str, Any]], to: str,
           insecure: bool) -> dict[str, Any]:
    """The values that point the chart at the mirror: `upstreams` overrides, and CAPD's node image."""
    images = [image_path(r.step.artifact.ref) for r in results if r.step.artifact.kind == "image"]
    used = {r.step.artifact.upstream for r in results if r.step.artifact.kind != "image"}
    out: dict[str, Any] = {"upstreams": {}}
    for name, entry in sorted(upstreams.items()):
        if override := _upstream_override(name, entry, used, images, to):
            if insecure and override.get("kind") in ("OCIRepository", "HelmRepository"):
                override["insecure"] = True
            out["upstreams"][name] = override
    node = full_name(str(upstreams.get("kind-node", {}).get("url", "")))
    if found := [i for i in images if i.startswith(f"{node}:")]:  # an image, not a source: set where the chart reads it
        out["cluster"] = {"capd": {"node_image": f"{to}/{found[0]}"}}
    return out


def _upstream_override(name: str, entry: dict[str, Any], used: set[str | None], images: list[str],
                       to: str) -> dict[str, Any]:
    override: dict[str, Any] = {}
    if name in used and entry.get("kind") == "HelmRepository":
        override = {"kind": "HelmRepository", "url": f"oci://{to}/charts"}
    elif name in used and entry.get("kind"):
        override = {"kind": "OCIRepository", "url": f"oci://{to}/sources/{name}"}
    prefix = full_name(str(entry.get("image_registry", "")))
    if entry.get("image_registry") and any(i.startswith(f"{prefix}/") for i in images):
        override["image_registry"] = f"{to}/{prefix}"
    return override


def not_redirected(results: Sequence[Result], snippet: dict[str, Any], to: str) -> list[str]:
    """Mirrored images that no value points at the mirror: their pullers need a registry mirror config."""
    prefixes = [f"{v['image_registry']}/" for v in snippet["upstreams"].values() if "image_registry" in v]
    node = snippet.get("cluster", {}).get("capd", {}).get("node_image")
    return sorted(r.step.target for r in results if r.step.artifact.kind == "image" and r.step.target != node
                  and not r.step.target.startswith(tuple(prefixes)))
