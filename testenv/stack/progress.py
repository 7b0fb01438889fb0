"""The product's status lines (cluster_init.progress), used by the stack's build steps too."""

from cluster_init.progress import step

__all__ = ["step"]
