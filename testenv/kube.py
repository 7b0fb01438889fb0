"""A minimal stdlib client for the Kubernetes API, and the CRD installation hook."""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

FIELD_MANAGER = "cluster-init-testenv"
CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"


class ApiError(RuntimeError):
    """An API request failed; `status` is the HTTP status (0 when the server was not reached)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}" if status else message)
        self.status = status


class ApiClient:
    """Talks to one API server with TLS client-certificate authentication."""

    def __init__(self, server: str, ca_file: Path, cert_file: Path, key_file: Path) -> None:
        self.server = server.rstrip("/")
        self._ssl = ssl.create_default_context(cafile=str(ca_file))
        self._ssl.load_cert_chain(str(cert_file), str(key_file))

    @classmethod
    def from_kubeconfig(cls, path: Path) -> ApiClient:
        """Client for the current context of a kubeconfig using client certificates (embedded or files)."""
        config = yaml.safe_load(path.read_text())
        context = _named(config, "contexts", config["current-context"])["context"]
        cluster = _named(config, "clusters", context["cluster"])["cluster"]
        user = _named(config, "users", context["user"])["user"]
        with tempfile.TemporaryDirectory(prefix="testenv-kubeconfig-") as tmp:  # ssl needs files; it reads them now
            files = [
                _material(cluster, "certificate-authority", Path(tmp) / "ca", path.parent),
                _material(user, "client-certificate", Path(tmp) / "crt", path.parent),
                _material(user, "client-key", Path(tmp) / "key", path.parent),
            ]
            return cls(cluster["server"], *files)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
        timeout: float = 10.0,
    ) -> Any:
        """Send a request; return the decoded JSON answer (or the text, when it is not JSON)."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=timeout) as resp:
                text = resp.read().decode()
        except urllib.error.HTTPError as e:
            raise ApiError(e.code, e.read().decode(errors="replace").strip()) from None
        except (urllib.error.URLError, OSError) as e:
            raise ApiError(0, f"{method} {self.server}{path}: {getattr(e, 'reason', e)}") from None
        try:
            return json.loads(text)
        except ValueError:
            return text

    def apply(self, api_path: str, obj: dict[str, Any]) -> Any:
        """Server-side apply of one cluster-scoped object at `api_path`/<name>."""
        return self.request(
            "PATCH",
            f"{api_path}/{obj['metadata']['name']}?fieldManager={FIELD_MANAGER}&force=true",
            obj,
            content_type="application/apply-patch+yaml",
        )


def _named(config: dict[str, Any], section: str, name: str) -> dict[str, Any]:
    for item in config.get(section) or []:
        if item["name"] == name:
            return dict(item)
    raise ValueError(f"kubeconfig has no {section} entry named {name!r}")


def _material(section: dict[str, Any], field: str, tmp: Path, base: Path) -> Path:
    if f"{field}-data" in section:
        tmp.write_bytes(base64.b64decode(section[f"{field}-data"]))
        return tmp
    if field in section:
        return base / str(section[field])
    raise ValueError(f"kubeconfig lacks {field}(-data); only client-certificate users are supported")


def install_crds(client: ApiClient, files: Iterable[Path], timeout: float = 60.0) -> list[str]:
    """Apply every CustomResourceDefinition found in the YAML `files`; wait until each is Established.

    Returns the CRD names. Other kinds of objects in the files are an error: this hook installs CRDs only.
    """
    names: list[str] = []
    for file in files:
        for doc in yaml.safe_load_all(Path(file).read_text()):
            if not doc:
                continue
            if doc.get("kind") != "CustomResourceDefinition":
                raise ValueError(f"{file}: expected only CustomResourceDefinitions, found {doc.get('kind')}")
            client.apply(CRD_API, doc)
            names.append(doc["metadata"]["name"])
    deadline = time.monotonic() + timeout
    for name in names:
        while not _established(client.request("GET", f"{CRD_API}/{name}")):
            if time.monotonic() > deadline:
                raise TimeoutError(f"CRD {name} not Established within {timeout:.0f}s")
            time.sleep(0.2)
    return names


def _established(crd: dict[str, Any]) -> bool:
    conditions = crd.get("status", {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def pinned_crd_files() -> list[Path]:
    """The CRD files of the pinned upstreams (Flux, cert-manager, CAPI and providers), for `up --crds`."""
    from testenv.crds import crd_files  # fetches the pinned modules: only imported when asked for

    return list(crd_files())
