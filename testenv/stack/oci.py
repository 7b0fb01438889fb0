"""Push a folder of manifests to the stack's registry as a Flux OCI artifact (what `flux push artifact` makes).

An artifact is one gzipped tar layer (`application/vnd.cncf.flux.content.v1.tar+gzip`) and a config of
media type `application/vnd.cncf.flux.config.v1+json`, under an OCI image manifest. Flux's
OCIRepository pulls it like an image. Plain HTTP calls: the registry is ours and on loopback.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from testenv.build import BuildError

CONFIG_TYPE = "application/vnd.cncf.flux.config.v1+json"
LAYER_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"


def tarball(files: Mapping[str, bytes]) -> bytes:
    """A reproducible tar.gz of these files (fixed times and owners: the same content, the same digest)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(files[name]))
    return gzip.compress(raw.getvalue(), mtime=0)


def folder_files(root: Path, subpaths: list[str] | None = None) -> dict[str, bytes]:
    """The files under `root` (or only under its `subpaths`), by path relative to `root`."""
    tops = [root / s for s in subpaths] if subpaths else [root]
    return {str(p.relative_to(root)): p.read_bytes() for top in tops for p in sorted(top.rglob("*")) if p.is_file()}


def _request(method: str, url: str, body: bytes = b"", headers: Mapping[str, str] | None = None) -> tuple[int, str]:
    req = urllib.request.Request(url, data=body if method in ("POST", "PUT") else None, method=method,
                                 headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers.get("Location", "")
    except urllib.error.HTTPError as e:
        return e.code, ""


def _blob(address: str, repo: str, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    if _request("HEAD", f"http://{address}/v2/{repo}/blobs/{digest}")[0] == 200:
        return digest
    status, location = _request("POST", f"http://{address}/v2/{repo}/blobs/uploads/")
    if status != 202:
        raise BuildError(f"registry {address}: starting an upload to {repo} answered {status}")
    if location.startswith("/"):
        location = f"http://{address}{location}"
    sep = "&" if "?" in location else "?"
    status, _ = _request("PUT", f"{location}{sep}digest={digest}", data,
                         {"Content-Type": "application/octet-stream"})
    if status != 201:
        raise BuildError(f"registry {address}: uploading a blob to {repo} answered {status}")
    return digest


def push_artifact(address: str, repo: str, tag: str, files: Mapping[str, bytes], source: str) -> str:
    """Push `files` as a Flux artifact `repo:tag`; returns the manifest digest."""
    layer = tarball(files)
    config = b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": _blob(address, repo, config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": _blob(address, repo, layer), "size": len(layer)}],
        "annotations": {"org.opencontainers.image.source": source, "org.opencontainers.image.revision": tag},
    }
    body = json.dumps(manifest, sort_keys=True).encode()
    status, _ = _request("PUT", f"http://{address}/v2/{repo}/manifests/{tag}", body, {"Content-Type": MANIFEST_TYPE})
    if status != 201:
        raise BuildError(f"registry {address}: pushing the manifest {repo}:{tag} answered {status}")
    return "sha256:" + hashlib.sha256(body).hexdigest()
