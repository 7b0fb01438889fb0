"""Flux OCI artifacts: a folder of manifests as Flux's OCIRepository pulls it (what `flux push artifact` makes).

An artifact is one gzipped tar layer (`application/vnd.cncf.flux.content.v1.tar+gzip`) and a config of media
type `application/vnd.cncf.flux.config.v1+json` under an OCI image manifest. It is made reproducibly (fixed
times and owners), so the same files give the same digest: `mirror` can tell that a registry already holds
it. It is written as an OCI image layout and pushed with crane, which brings the user's registry credentials,
TLS and plain HTTP (`insecure`) for free. The offline test stack publishes its sources through here too.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

CONFIG_TYPE = "application/vnd.cncf.flux.config.v1+json"
LAYER_TYPE = "application/vnd.cncf.flux.content.v1.tar+gzip"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"


def tarball(files: Mapping[str, bytes]) -> bytes:
    """A reproducible tar.gz of these files (fixed times and owners: the same content, the same digest)."""
    import gzip
    import io
    import tarfile

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


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def artifact(files: Mapping[str, bytes], source: str, revision: str) -> tuple[bytes, dict[str, bytes]]:
    """The artifact's manifest and its blobs by digest; the manifest's digest is the artifact's."""
    layer, config = tarball(files), b"{}"
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": digest(layer), "size": len(layer)}],
        "annotations": {"org.opencontainers.image.source": source, "org.opencontainers.image.revision": revision},
    }
    return json.dumps(manifest, sort_keys=True).encode(), {digest(config): config, digest(layer): layer}


def write_layout(out: Path, manifest: bytes, blobs: Mapping[str, bytes]) -> Path:
    """An OCI image layout in `out` holding this one manifest: what `crane push` reads from a folder."""
    blob_dir = out / "blobs" / "sha256"
    blob_dir.mkdir(parents=True, exist_ok=True)
    for name, data in {**blobs, digest(manifest): manifest}.items():
        (blob_dir / name.removeprefix("sha256:")).write_bytes(data)
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE,
             "manifests": [{"mediaType": MANIFEST_TYPE, "digest": digest(manifest), "size": len(manifest)}]}
    (out / "index.json").write_text(json.dumps(index))
    (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return out


def push(ref: str, manifest: bytes, blobs: Mapping[str, bytes], insecure: bool = False) -> str:
    """Push the artifact to `ref` (registry/repository:tag) with crane; returns its digest.

    crane sends only the blobs the registry lacks; a failure raises RuntimeFailure with crane's last line.
    """
    import tempfile

    from cluster_init import tools
    from cluster_init.errors import RuntimeFailure

    with tempfile.TemporaryDirectory(prefix="cluster-init-oci-") as tmp:
        layout = write_layout(Path(tmp), manifest, blobs)
        proc = tools.run("crane", ["push", str(layout), ref, *(["--insecure"] if insecure else [])])
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeFailure(f"pushing the Flux artifact {ref} failed: {last}")
    return digest(manifest)


def push_artifact(ref: str, files: Mapping[str, bytes], source: str, revision: str, insecure: bool = False) -> str:
    """Push `files` as a Flux artifact to `ref`; returns its digest."""
    manifest, blobs = artifact(files, source, revision)
    return push(ref, manifest, blobs, insecure)
