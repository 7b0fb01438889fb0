"""Where the GitOps bundle (chart, components, environments) lives on disk."""

from __future__ import annotations

import os
from pathlib import Path


def bundle_root() -> Path:
    """The repository root holding charts/ and kustomize-components/.

    CLUSTER_INIT_HOME wins; otherwise the checkout this package was installed from (editable install).
    """
    if home := os.environ.get("CLUSTER_INIT_HOME"):
        return Path(home)
    for parent in Path(__file__).resolve().parents:
        if (parent / "charts" / "telco-cloud-init" / "Chart.yaml").is_file():
            return parent
    return Path.cwd()


def chart_dir() -> Path:
    return bundle_root() / "charts" / "telco-cloud-init"


def components_dir() -> Path:
    return bundle_root() / "kustomize-components"


def cache_dir() -> Path:
    """Per-user cache for built tools, outside the repository."""
    default = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "cluster-init"
    return Path(os.environ.get("CLUSTER_INIT_CACHE", default))


def display(path: Path) -> str:
    """A path as the user should read it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
