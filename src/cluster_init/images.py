"""The bill of materials of an environment: every image, chart and Flux source it needs, and which unit needs it.

Derived from the rendered bundle and the pinned upstream manifests, never from a list kept by hand, so a
mirror built from it (`cluster-init mirror`) holds exactly what an air-gapped install pulls.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cluster_init.environment import Environment

KINDS = ("image", "chart", "source")
CONTEXTS = ("bootstrap", "management")


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


def bill_of_materials(env: Environment, contexts: Sequence[str] = CONTEXTS) -> list[Artifact]:
    """Every artifact needed in `contexts`, sorted by kind then reference."""
    raise NotImplementedError("cluster-init images is being built")
