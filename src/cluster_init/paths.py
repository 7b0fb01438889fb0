"""Where the GitOps bundle (chart, components, environments) and the tool cache live on disk.

Plain strings from os.path, not pathlib: `plan` resolves helm's arguments through this module before
anything heavy is imported (see early_render.py).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path


def bundle_root() -> str:
    """The repository root holding charts/ and kustomize-components/.

    CLUSTER_INIT_HOME wins; otherwise the checkout this package was installed from (editable install).
    """
    if home := os.environ.get("CLUSTER_INIT_HOME"):
        return home
    parent = os.path.dirname(os.path.realpath(__file__))
    while os.path.dirname(parent) != parent:
        if os.path.isfile(os.path.join(parent, "charts", "telco-cloud-init", "Chart.yaml")):
            return parent
        parent = os.path.dirname(parent)
    return os.getcwd()


def check_bundle_root() -> None:
    """Refuse a CLUSTER_INIT_HOME that holds no bundle, before anything reads from it."""
    home = os.environ.get("CLUSTER_INIT_HOME")
    if home and not os.path.isfile(os.path.join(home, "charts", "telco-cloud-init", "Chart.yaml")):
        from cluster_init.errors import InputError, Problem

        raise InputError([Problem("CLUSTER_INIT_HOME", "", "has no charts/telco-cloud-init/Chart.yaml",
                                  "unset it, or point it at a cluster-init checkout")])


def chart_dir() -> str:
    return os.path.join(bundle_root(), "charts", "telco-cloud-init")


def components_dir() -> str:
    return os.path.join(bundle_root(), "kustomize-components")


def cache_dir() -> str:
    """Per-user cache for built tools, outside the repository."""
    default = os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "cluster-init")
    return os.environ.get("CLUSTER_INIT_CACHE") or default


def display(path: Path | str) -> str:
    """A path as the user should read it: relative to the working directory when inside it."""
    from pathlib import Path

    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, RuntimeError, OSError):  # outside it, or a symlink loop
        return str(path)
