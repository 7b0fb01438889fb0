"""Hermetic test environment (the twin): real Kubernetes control planes as local processes, for tests only.

    python -m testenv up --name a        # prints KUBECONFIG=<path> last
    python -m testenv down --name a

From Python: `with ControlPlane("a") as cp: ... cp.kubeconfig ...`. See testenv/README.md. Clients of
the control planes come from `cluster_init.kube` (the one door to a cluster); `ControlPlane.client()` gives one.
"""

from testenv.build import BuildError, TwinVersions, ensure_binaries, twin_versions
from testenv.controlplane import ControlPlane, StartupError

__all__ = [
    "BuildError",
    "ControlPlane",
    "StartupError",
    "TwinVersions",
    "ensure_binaries",
    "twin_versions",
]
