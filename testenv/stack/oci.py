"""Push a folder of manifests to the stack's registry as a Flux OCI artifact, through the product's one
implementation (`cluster_init.oci`, which `cluster-init mirror` uses too). Plain HTTP: the registry is ours
and on loopback.
"""

from __future__ import annotations

from collections.abc import Mapping

from cluster_init import oci
from cluster_init.oci import CONFIG_TYPE, LAYER_TYPE, MANIFEST_TYPE, folder_files, tarball

__all__ = ["CONFIG_TYPE", "LAYER_TYPE", "MANIFEST_TYPE", "folder_files", "push_artifact", "tarball"]


def push_artifact(address: str, repo: str, tag: str, files: Mapping[str, bytes], source: str) -> str:
    """Push `files` as a Flux artifact `repo:tag`; returns the manifest digest."""
    return oci.push_artifact(f"{address}/{repo}:{tag}", files, source, tag, insecure=True)
