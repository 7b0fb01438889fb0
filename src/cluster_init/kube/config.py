"""Kubeconfig files: reading one context (as kubectl does), and writing a kubeconfig safely.

Reading: one file, or the `KUBECONFIG` list merged as kubectl merges it (the first file naming a cluster, user
or context wins, and the first current-context), for the current context or a named one. Supported: the
server, a CA (file or data), `insecure-skip-tls-verify`, `tls-server-name`, a client certificate and key
(files or data), a bearer token (inline or file), and exec credential plugins
(client.authentication.k8s.io v1 and v1beta1; run when a client opens, with a timeout). Relative paths are
relative to the file that names them. Anything malformed is one `KubeconfigError` line naming the file and
the entry, never a traceback.

In a pod (no kubeconfig given, no `KUBECONFIG`, no ~/.kube/config): the in-cluster config, as client-go builds
it, from `KUBERNETES_SERVICE_HOST`/`_PORT` and the service account's token and CA files. The token is a bound,
expiring token that the kubelet rewrites before it expires, so it is read from its file again whenever the file
changed (`current_token`), not once.

Writing: `write` replaces the file atomically (a private temporary file in the same directory, fsync,
rename), mode 0600, so a reader never sees half a kubeconfig and nobody else can read its credentials.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import ssl
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cluster_init.kube.errors import KubeconfigError

EXEC_TIMEOUT = 60.0  # seconds an exec credential plugin may take
EXEC_API_VERSIONS = ("client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1")
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class ExecPlugin:
    """An exec credential plugin of a kubeconfig user: a command that prints an ExecCredential."""

    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    api_version: str = EXEC_API_VERSIONS[0]
    base: str = "."  # the directory of the kubeconfig file that names it


@dataclass(frozen=True)
class KubeConfig:
    """Where the API server is and how to authenticate, for one context."""

    server: str
    context: str
    source: str  # the file(s) it came from, for messages
    ca_data: bytes | None = None
    cert_data: bytes | None = None
    key_data: bytes | None = None
    token: str | None = None
    insecure: bool = False
    tls_server_name: str | None = None
    exec: ExecPlugin | None = field(default=None, repr=False)
    token_file: Path | None = None  # re-read when it changes (in-cluster: the kubelet rotates the token)

    @classmethod
    def load(cls, path: str | Path | None = None, context: str | None = None) -> KubeConfig:
        """The kubeconfig at `path`, else `$KUBECONFIG` (a list), else ~/.kube/config, else (in a pod, with
        no context asked for) the in-cluster config."""
        if path is None and context is None and in_cluster_available():
            return cls.in_cluster()
        files = _files(path)
        source = ", ".join(str(f) for f in files)
        merged: dict[str, dict[str, tuple[Mapping[str, Any], Path]]] = {"clusters": {}, "users": {}, "contexts": {}}
        current: str | None = None
        for file in files:
            doc = _read_file(file, single=len(files) == 1)
            if doc is None:
                continue
            for section in merged:
                entries = doc.get(section) or []
                if not isinstance(entries, list):
                    raise KubeconfigError(f"{file}: `{section}` is not a list")
                for item in entries:
                    name = item.get("name") if isinstance(item, dict) else None
                    if not isinstance(name, str):
                        raise KubeconfigError(f"{file}: an entry of `{section}` has no name")
                    body = item.get(section[:-1]) or {}
                    if not isinstance(body, dict):
                        raise KubeconfigError(f"{file}: {section[:-1]} {name!r} is not a mapping")
                    merged[section].setdefault(name, (body, file.resolve().parent))
            if current is None and isinstance(doc.get("current-context"), str) and doc["current-context"]:
                current = doc["current-context"]
        name = context or current
        if not name:
            raise KubeconfigError(f"{source}: no current-context set and no context given")
        if name not in merged["contexts"]:
            raise KubeconfigError(f"{source}: no context named {name!r}")
        ctx = merged["contexts"][name][0]
        cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
        cluster, cbase = merged["clusters"].get(str(cluster_name), ({}, Path.cwd()))
        if not cluster.get("server") or not isinstance(cluster["server"], str):
            raise KubeconfigError(f"{source}: context {name!r} names cluster {cluster_name!r}, which has no server")
        user, ubase = merged["users"].get(str(user_name), ({}, Path.cwd())) if user_name else ({}, Path.cwd())
        where = f"{source}: user {user_name!r}"
        if user.get("auth-provider"):
            raise KubeconfigError(f"{where} uses auth-provider, which is not supported; use an exec plugin, "
                                  "a client certificate or a token")
        token = user.get("token")
        if not token and user.get("tokenFile"):
            token = _read(ubase, user["tokenFile"], source).decode(errors="replace").strip()
        if token is not None and not isinstance(token, str):
            raise KubeconfigError(f"{where}: token is not a string")
        return cls(
            server=cluster["server"].rstrip("/"),
            context=name,
            source=source,
            ca_data=_material(cluster, "certificate-authority", cbase, f"{source}: cluster {cluster_name!r}"),
            cert_data=_material(user, "client-certificate", ubase, where),
            key_data=_material(user, "client-key", ubase, where),
            token=token,
            insecure=cluster.get("insecure-skip-tls-verify") is True,
            tls_server_name=cluster.get("tls-server-name") if isinstance(cluster.get("tls-server-name"), str) else None,
            exec=_exec_plugin(user.get("exec"), ubase, where),
        )

    @classmethod
    def in_cluster(cls, directory: Path | None = None) -> KubeConfig:
        """The pod's own service account: the API server from the environment, its token and CA from files."""
        folder = directory or SERVICE_ACCOUNT_DIR
        host, port = os.environ.get("KUBERNETES_SERVICE_HOST", ""), os.environ.get("KUBERNETES_SERVICE_PORT", "")
        if not host or not port:
            raise KubeconfigError("in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
        token_file = folder / "token"
        token = _read(folder, "token", "in-cluster config").decode(errors="replace").strip()
        if not token:
            raise KubeconfigError(f"in-cluster config: {token_file} is empty")
        host = f"[{host}]" if ":" in host else host  # an IPv6 address
        return cls(server=f"https://{host}:{port}", context="in-cluster", source=str(folder),
                   ca_data=_read(folder, "ca.crt", "in-cluster config"), token=token, token_file=token_file)

    def current_token(self) -> str | None:
        """The bearer token now: read again from `token_file` when the file changed since it was last read."""
        if self.token_file is None:
            return self.token
        return _token_cache.read(self.token_file, self.token)

    def resolved(self) -> KubeConfig:
        """This config with the exec plugin's credentials filled in (itself when it has no plugin)."""
        if self.exec is None:
            return self
        return replace(self, exec=None, **run_exec(self.exec, f"{self.source}: context {self.context!r}"))

    def ssl_context(self) -> ssl.SSLContext:
        where = f"{self.source}: context {self.context!r}"
        ctx = ssl.create_default_context()
        if self.insecure:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            try:
                ctx = ssl.create_default_context(cadata=self.ca_data.decode(errors="replace"))
            except (ssl.SSLError, ValueError) as e:
                raise KubeconfigError(f"{where}: the certificate authority data is not a PEM certificate "
                                      f"({getattr(e, 'reason', None) or e})") from None
        if self.cert_data and self.key_data:
            # ssl loads certificates from files only: write them to a private temporary dir, read, delete.
            with tempfile.TemporaryDirectory(prefix="cluster-init-tls-") as tmp:
                crt, key = Path(tmp) / "crt", Path(tmp) / "key"
                for p, data in ((crt, self.cert_data), (key, self.key_data)):
                    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as f:
                        f.write(data)
                try:
                    ctx.load_cert_chain(str(crt), str(key))
                except ssl.SSLError as e:
                    raise KubeconfigError(f"{where}: unusable client certificate or key ({e.reason})") from None
        elif self.cert_data or self.key_data:
            raise KubeconfigError(f"{where}: a client certificate needs both client-certificate and client-key")
        return ctx


class _TokenCache:
    """The last token read from each token file, by the file's (mtime, size); a stat per request, no read."""

    def __init__(self) -> None:
        self._seen: dict[Path, tuple[tuple[int, int], str]] = {}

    def read(self, path: Path, fallback: str | None) -> str | None:
        try:
            st = path.stat()
            stamp = (st.st_mtime_ns, st.st_size)
            cached = self._seen.get(path)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            token = path.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return fallback  # mid-rotation or gone: the last token is the best there is
        if not token:
            return fallback
        self._seen[path] = (stamp, token)
        return token


_token_cache = _TokenCache()


def in_cluster_available(directory: Path | None = None) -> bool:
    """In a pod with a service account token, and no kubeconfig of its own (as kubectl decides)."""
    folder = directory or SERVICE_ACCOUNT_DIR
    return (bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and bool(os.environ.get("KUBERNETES_SERVICE_PORT"))
            and not os.environ.get("KUBECONFIG") and not (Path.home() / ".kube" / "config").exists()
            and (folder / "token").is_file())


def _files(path: str | Path | None) -> list[Path]:
    if path is not None:
        return [Path(path)]
    if os.environ.get("KUBECONFIG"):
        return [Path(p) for p in os.environ["KUBECONFIG"].split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def _read_file(file: Path, *, single: bool) -> dict[str, Any] | None:
    """One kubeconfig file as a mapping; None for a missing file of a list (kubectl skips those)."""
    from cluster_init import yamlfile

    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        if single:
            raise KubeconfigError(f"{file}: no such kubeconfig file") from None
        return None
    except (OSError, UnicodeDecodeError) as e:
        raise KubeconfigError(f"{file}: cannot read the kubeconfig: {getattr(e, 'strerror', None) or e}") from None
    try:
        doc = yamlfile.parse(text) if text.strip() else {}
    except yamlfile.YamlSyntaxError as e:
        raise KubeconfigError(f"{file}: not a kubeconfig: {e}") from None
    if not isinstance(doc, dict):
        raise KubeconfigError(f"{file}: not a kubeconfig (expected a mapping)")
    return doc


def _read(base: Path, name: Any, where: str) -> bytes:
    if not isinstance(name, str):
        raise KubeconfigError(f"{where}: a file name is not a string")
    path = Path(name) if Path(name).is_absolute() else base / name
    try:
        return path.read_bytes()
    except OSError as e:
        raise KubeconfigError(f"{where}: cannot read {path}: {e.strerror}") from None


def _material(section: Mapping[str, Any], key: str, base: Path, where: str) -> bytes | None:
    if section.get(f"{key}-data"):
        try:
            return base64.b64decode(str(section[f"{key}-data"]), validate=True)
        except (binascii.Error, ValueError):
            raise KubeconfigError(f"{where}: {key}-data is not valid base64") from None
    if section.get(key):
        return _read(base, section[key], where)
    return None


def _exec_plugin(spec: Any, base: Path, where: str) -> ExecPlugin | None:
    if not spec:
        return None
    if not isinstance(spec, dict) or not isinstance(spec.get("command"), str) or not spec["command"]:
        raise KubeconfigError(f"{where}: exec needs a `command`")
    api_version = spec.get("apiVersion") or EXEC_API_VERSIONS[0]
    if api_version not in EXEC_API_VERSIONS:
        raise KubeconfigError(f"{where}: exec apiVersion {api_version!r} is not supported; use one of "
                              f"{', '.join(EXEC_API_VERSIONS)}")
    args = spec.get("args") or []
    env = spec.get("env") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise KubeconfigError(f"{where}: exec args is not a list of strings")
    if not isinstance(env, list) or not all(isinstance(e, dict) and isinstance(e.get("name"), str) for e in env):
        raise KubeconfigError(f"{where}: exec env is not a list of {{name, value}}")
    return ExecPlugin(spec["command"], tuple(args), tuple((e["name"], str(e.get("value", ""))) for e in env),
                      api_version, str(base))


def run_exec(plugin: ExecPlugin, where: str) -> dict[str, Any]:
    """Run an exec credential plugin; its token, or client certificate and key. Its stderr is passed through
    (plugins prompt and explain there); a failure is one line."""
    command = plugin.command
    if os.sep in command and not os.path.isabs(command):
        command = os.path.join(plugin.base, command)  # a relative path is relative to the kubeconfig
    info = {"apiVersion": plugin.api_version, "kind": "ExecCredential", "spec": {"interactive": False}}
    env = {**os.environ, **dict(plugin.env), "KUBERNETES_EXEC_INFO": json.dumps(info)}
    name = os.path.basename(plugin.command)
    try:
        result = subprocess.run([command, *plugin.args], env=env, stdin=subprocess.DEVNULL, capture_output=True,
                                timeout=EXEC_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise KubeconfigError(f"{where}: the exec plugin {name} did not answer within {EXEC_TIMEOUT:g} s") from None
    except OSError as e:
        raise KubeconfigError(f"{where}: cannot run the exec plugin {name}: {e.strerror or e}") from None
    if result.returncode != 0:
        said = result.stderr.decode(errors="replace").strip().splitlines()
        raise KubeconfigError(f"{where}: the exec plugin {name} failed (exit {result.returncode})"
                              + (f": {said[-1][:200]}" if said else ""))
    try:
        status = json.loads(result.stdout)["status"]
        if not isinstance(status, dict):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        raise KubeconfigError(f"{where}: the exec plugin {name} printed no ExecCredential with a status") from None
    if isinstance(status.get("token"), str) and status["token"]:
        return {"token": status["token"]}
    cert, key = status.get("clientCertificateData"), status.get("clientKeyData")
    if isinstance(cert, str) and isinstance(key, str) and cert and key:
        return {"cert_data": cert.encode(), "key_data": key.encode()}
    raise KubeconfigError(f"{where}: the exec plugin {name} gave neither a token nor a client certificate and key")


def write(path: str | Path, config: Mapping[str, Any]) -> Path:
    """Write a kubeconfig atomically with mode 0600: readers see the old file or the new one, never a part."""
    from cluster_init import yamlfile

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(yamlfile.dump_one(dict(config)))
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
