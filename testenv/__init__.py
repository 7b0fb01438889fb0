"""Hermetic test environment (the twin): real Kubernetes control planes as local processes, for tests only.

    python -m testenv up --name a        # prints KUBECONFIG=<path> last
    python -m testenv down --name a

From Python: `with ControlPlane("a") as cp: ... cp.kubeconfig ...`. See testenv/README.md.
"""

from testenv.build import BuildError, TwinVersions, ensure_binaries, twin_versions
from testenv.controlplane import ControlPlane, StartupError
from testenv.kube import ApiClient, ApiError, install_crds, pinned_crd_files

__all__ = [
    "ApiClient",
    "ApiError",
    "BuildError",
    "ControlPlane",
    "StartupError",
    "TwinVersions",
    "ensure_binaries",
    "install_crds",
    "pinned_crd_files",
    "twin_versions",
]
