"""An environment folder pointed at the stack, the way an air-gapped user points theirs at a mirror: the chart's own
`upstreams` overrides send every source to the local registry. The stack's one deviation that reaches the values
is cert-manager (charts.py): its version, and v1.11's name for `crds.enabled`, patched through the unit's own
`patches`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from testenv.stack import controllers, registry, sources


def offline_values() -> dict[str, Any]:
    url = f"oci://{registry.NAME}:{registry.PORT}"
    upstreams: dict[str, dict[str, Any]] = {
        name: {"kind": "OCIRepository", "url": sources.in_cluster_url(name), "insecure": True}
        for name in (*sources.TREES, "flux")}
    upstreams["cert-manager"] = {"url": f"{url}/charts", "insecure": True,
                                 "version": controllers.CERT_MANAGER_STACK_VERSION}
    install_crds = [{"op": "add", "path": "/spec/values/installCRDs", "value": True}]
    return {"upstreams": upstreams,
            "units": {"cert-manager": {"patches": [{"target": {"kind": "HelmRelease", "name": "cert-manager"},
                                                    "patch": json.dumps(install_crds)}]}}}


def write(source: Path, dest: Path, extra: dict[str, Any] | None = None) -> Path:
    """`source` copied to `dest` with the offline values (and `extra`, merged key by key) added to its values."""
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(source, dest)
    values = yaml.safe_load((dest / "values.yaml").read_text()) or {}
    for layer in (offline_values(), extra or {}):
        values = _merge(values, layer)
    (dest / "values.yaml").write_text("# Written by `python -m testenv stack env`: the stack's mirrors.\n"
                                      + yaml.safe_dump(values, sort_keys=False))
    return dest


def _merge(base: dict[str, Any], layer: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in layer.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out
