"""One hermetic control plane: etcd, kube-apiserver and kube-controller-manager as local processes.

Stand-in for a real cluster's control plane, for tests only (tier T1 of the twin). Each named control
plane has its own state dir, certificates and loopback ports, so several can run at once.
"""

from __future__ import annotations

import base64
import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from cluster_init.kube import ApiError, KubeConfig
from cluster_init.kube import config as kubeconfig
from cluster_init.kube.sync import SyncClient, install_crds
from testenv import build, pki

COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager")  # start order; stopped in reverse
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
SERVICE_CIDR = "10.96.0.0/12"
PORT_ATTEMPTS = 3
LOG_TAIL = 40


class StartupError(RuntimeError):
    """The control plane could not be started; the message says why (with the tail of the failing log)."""


class _PortBusy(StartupError):
    """A component lost the race for a port it was given: worth another try with fresh ports."""


@dataclass(frozen=True)
class Ports:
    """Loopback ports of one control plane."""

    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int


def run_root() -> Path:
    """Parent of the per-name state dirs."""
    return build.cache_root() / "run"


def free_ports(count: int) -> list[int]:
    """`count` distinct ports that are free on 127.0.0.1 right now (the kernel picks them)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def port_is_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager under `${CLUSTER_INIT_CACHE}/run/<name>/`.

    >>> with ControlPlane("a") as cp:   # up() on enter, down() on exit
    ...     run_tests(cp.kubeconfig)
    """

    def __init__(
        self,
        name: str = "default",
        *,
        port: int | None = None,
        timeout: float = 180.0,
        extra_args: Mapping[str, Sequence[str]] | None = None,
        log: Callable[[str], None] = build._stderr,
    ) -> None:
        if not NAME_RE.match(name):
            raise ValueError(f"control plane name {name!r} must be a DNS label of at most 40 characters")
        self.name, self.port, self.timeout, self.log = name, port, timeout, log
        self.extra_args = {k: list(v) for k, v in (extra_args or {}).items()}
        self.dir = run_root() / name
        self.kubeconfig = self.dir / "kubeconfig"
        self.pki = pki.Pki(self.dir / "pki")
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._argv: dict[str, list[str]] = {}  # each component's command line, for start()
        self._ready_checks: dict[str, Callable[[], bool]] = {}

    # -- public API -------------------------------------------------------------------------------------

    def up(self, crds: Sequence[Path] = ()) -> Path:
        """Start the control plane, wait until it is ready, install `crds`; return the kubeconfig path."""
        with self._locked():
            if self._alive_components():
                if self._ready():
                    raise StartupError(
                        f"control plane {self.name!r} is already running "
                        f"(KUBECONFIG={self.kubeconfig}); `python -m testenv down --name {self.name}`"
                    )
                self.log(f"{self.name}: cleaning up a half-dead previous run")
            self._stop_all()
            shutil.rmtree(self.dir, ignore_errors=True)
            if self.port is not None and not port_is_free(self.port):
                raise StartupError(f"port {self.port} on 127.0.0.1 is already in use; pick another or omit it")
            bins = build.ensure_binaries(log=self.log)
            self.dir.mkdir(mode=0o700, parents=True)
            (self.dir / "logs").mkdir()
            pki.generate(self.pki.dir, self.name)
            for attempt in range(1, PORT_ATTEMPTS + 1):
                try:
                    self._start(bins, self._pick_ports())
                    break
                except _PortBusy as e:
                    self._stop_all()
                    shutil.rmtree(self.dir / "etcd", ignore_errors=True)  # its membership names the old port
                    if self.port is not None or attempt == PORT_ATTEMPTS:
                        raise StartupError(f"{e}; see {self.dir / 'logs'}") from None
                    self.log(f"{e}; retrying with other ports")
                except BaseException:
                    self._stop_all()
                    raise
            if crds:
                names = install_crds(self.client(), crd_documents(crds), timeout=self.timeout)
                self.log(f"{self.name}: {len(names)} CRDs established")
        return self.kubeconfig

    def down(self, keep: bool = False) -> list[str]:
        """Stop every process of this control plane, wait for them to exit, and remove the state dir
        unless `keep`. Returns the components that were running.
        """
        with self._locked(remove=not keep):
            stopped = self._stop_all()
            if not keep:
                shutil.rmtree(self.dir, ignore_errors=True)
        return stopped

    def kill(self, component: str) -> None:
        """SIGKILL one component, as a crash or the loss of its node would, and wait until it is gone.

        Its state stays (etcd's data, certificates, kubeconfig); `start(component)` brings it back.
        """
        pid, proc = self._pid(component), self._procs.pop(component, None)
        if component not in self._argv or pid is None or proc is None:
            raise ValueError(f"{component} of {self.name!r} was not started by this ControlPlane")
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        # Reaped, it has closed its sockets: a process still exiting can keep its port after /proc shows
        # it without a command line, so the group check alone would let `start` race it for the port.
        proc.wait(timeout=30)
        _terminate_group(pid, str(self.dir), None)

    def start(self, component: str) -> None:
        """Start a component stopped by `kill` again, with the same command line; return once it is ready."""
        if component not in self._argv:
            raise ValueError(f"{component} of {self.name!r} was not started by this ControlPlane")
        self._spawn_argv(component, self._argv[component])
        self._wait(component, self._ready_checks[component], time.monotonic() + self.timeout)

    def client(self) -> SyncClient:
        """An admin client for this control plane's API server (each request sent once, 10 s at most)."""
        return SyncClient.from_kubeconfig(self.kubeconfig, timeout=10.0)

    def __enter__(self) -> ControlPlane:
        self.up()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.down()

    # -- starting ---------------------------------------------------------------------------------------

    def _pick_ports(self) -> Ports:
        etcd_client, etcd_peer, apiserver, controller_manager = free_ports(4)
        return Ports(etcd_client, etcd_peer, self.port or apiserver, controller_manager)

    def _start(self, bins: Path, ports: Ports) -> None:
        d, p, loop = self.dir, self.pki, "127.0.0.1"
        self._write_kubeconfig(f"https://{loop}:{ports.apiserver}")
        deadline, t0 = time.monotonic() + self.timeout, time.monotonic()
        etcd_url, peer_url = f"http://{loop}:{ports.etcd_client}", f"http://{loop}:{ports.etcd_peer}"
        self._spawn(
            bins,
            "etcd",
            [
                "--name=twin",
                f"--data-dir={d / 'etcd'}",
                "--unsafe-no-fsync=true",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=twin={peer_url}",
            ],
        )
        self._ready_checks["etcd"] = lambda: b'"health":"true"' in _http_get(f"{etcd_url}/health")
        self._wait("etcd", self._ready_checks["etcd"], deadline)
        t_etcd = time.monotonic()
        self._spawn(
            bins,
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                f"--bind-address={loop}",
                f"--advertise-address={loop}",
                f"--secure-port={ports.apiserver}",
                f"--cert-dir={p.dir}",
                f"--tls-cert-file={p.serving_crt}",
                f"--tls-private-key-file={p.serving_key}",
                f"--client-ca-file={p.ca_crt}",
                "--authorization-mode=Node,RBAC",
                "--allow-privileged=true",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={p.sa_pub}",
                f"--service-account-signing-key-file={p.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--requestheader-client-ca-file={p.front_proxy_ca_crt}",
                f"--requestheader-allowed-names={pki.FRONT_PROXY_CLIENT}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={p.front_proxy_crt}",
                f"--proxy-client-key-file={p.front_proxy_key}",
                "--endpoint-reconciler-type=none",  # a loopback address is not a valid Endpoints address
                "--profiling=false",
            ],
        )
        api = _admin(f"https://{loop}:{ports.apiserver}", p)
        self._ready_checks["kube-apiserver"] = lambda: _probe(api, "/readyz")
        self._wait("kube-apiserver", self._ready_checks["kube-apiserver"], deadline)
        t_api = time.monotonic()
        self._spawn(
            bins,
            "kube-controller-manager",
            [
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}",
                f"--authorization-kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                f"--bind-address={loop}",
                f"--secure-port={ports.controller_manager}",
                f"--tls-cert-file={p.serving_crt}",
                f"--tls-private-key-file={p.serving_key}",
                f"--service-account-private-key-file={p.sa_key}",
                f"--root-ca-file={p.ca_crt}",
                f"--cluster-signing-cert-file={p.ca_crt}",
                f"--cluster-signing-key-file={p.ca_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--profiling=false",
            ],
        )
        kcm = _admin(f"https://{loop}:{ports.controller_manager}", p)
        self._ready_checks["kube-controller-manager"] = lambda: _probe(kcm, "/healthz")
        self._wait("kube-controller-manager", self._ready_checks["kube-controller-manager"], deadline)
        t_kcm = time.monotonic()
        self.log(
            f"{self.name}: ready in {t_kcm - t0:.1f}s (etcd {t_etcd - t0:.1f}s, kube-apiserver "
            f"{t_api - t_etcd:.1f}s, kube-controller-manager {t_kcm - t_api:.1f}s); apiserver on "
            f"127.0.0.1:{ports.apiserver}, logs in {self.dir / 'logs'}"
        )

    def _spawn(self, bins: Path, component: str, args: list[str]) -> None:
        self._spawn_argv(component, [str(bins / component), *args, *self.extra_args.get(component, [])])

    def _spawn_argv(self, component: str, argv: list[str]) -> None:
        self._argv[component] = argv
        with open(self.dir / "logs" / f"{component}.log", "ab") as out:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
            )  # own process group: killpg on down
        self._procs[component] = proc
        (self.dir / f"{component}.pid").write_text(f"{proc.pid}\n")

    def _wait(self, component: str, ready: Callable[[], bool], deadline: float) -> None:
        """Poll `ready` until it holds; fail fast when any started process exits, or at the deadline."""
        while True:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    tail = self._log_tail(name)
                    if "address already in use" in tail:
                        raise _PortBusy(f"{name} of {self.name!r} lost a port to another process")
                    raise StartupError(
                        f"{name} exited with code {proc.returncode} while starting {self.name!r}; "
                        f"last lines of {self.dir / 'logs' / name}.log:\n{tail}"
                    )
            if ready():
                return
            if time.monotonic() > deadline:
                raise StartupError(
                    f"{component} of {self.name!r} not ready within {self.timeout:g}s; "
                    f"last lines of its log:\n{self._log_tail(component)}"
                )
            time.sleep(0.1)

    def _log_tail(self, component: str) -> str:
        try:
            lines = (self.dir / "logs" / f"{component}.log").read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-LOG_TAIL:])

    def _write_kubeconfig(self, server: str) -> None:
        ctx = f"twin-{self.name}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "current-context": ctx,
            "preferences": {},
            "clusters": [
                {
                    "name": ctx,
                    "cluster": {"server": server, "certificate-authority-data": _b64(self.pki.ca_crt)},
                }
            ],
            "users": [
                {
                    "name": ctx,
                    "user": {
                        "client-certificate-data": _b64(self.pki.admin_crt),
                        "client-key-data": _b64(self.pki.admin_key),
                    },
                }
            ],
            "contexts": [{"name": ctx, "context": {"cluster": ctx, "user": ctx}}],
        }
        kubeconfig.write(self.kubeconfig, config)

    def _ready(self) -> bool:
        try:
            return _probe(self.client(), "/readyz")
        except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError):
            return False

    # -- stopping ---------------------------------------------------------------------------------------

    def _alive_components(self) -> list[str]:
        return [c for c in COMPONENTS if (pid := self._pid(c)) and _group_members(pid, str(self.dir))]

    def _pid(self, component: str) -> int | None:
        if component in self._procs:
            return self._procs[component].pid
        try:
            return int((self.dir / f"{component}.pid").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def _stop_all(self) -> list[str]:
        """Stop whatever is left of this control plane; return the components that were still running."""
        stopped = []
        for component in reversed(COMPONENTS):
            pid = self._pid(component)
            if pid and _terminate_group(pid, str(self.dir), self._procs.get(component)):
                stopped.append(component)
            self._procs.pop(component, None)
            (self.dir / f"{component}.pid").unlink(missing_ok=True)
        return stopped

    @contextmanager
    def _locked(self, remove: bool = False) -> Iterator[None]:
        """Serialise up/down of one name across processes; `remove` deletes the lock file afterwards."""
        run_root().mkdir(parents=True, exist_ok=True)
        path = run_root() / f".{self.name}.lock"
        while True:
            with open(path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    if os.stat(path).st_ino != os.fstat(lock.fileno()).st_ino:
                        continue  # removed by a `down` while we waited: lock the new file
                except FileNotFoundError:
                    continue
                try:
                    yield
                finally:
                    if remove:
                        path.unlink(missing_ok=True)
                return


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _http_get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bytes(resp.read())
    except OSError:
        return b""


def _probe(client: SyncClient, path: str) -> bool:
    try:
        return bool(client.request("GET", path, timeout=2) == "ok")
    except ApiError:
        return False


def _admin(server: str, p: pki.Pki) -> SyncClient:
    """A client of a component's secure port with the admin certificate."""
    return SyncClient(KubeConfig(server, "admin", server, ca_data=p.ca_crt.read_bytes(),
                                 cert_data=p.admin_crt.read_bytes(), key_data=p.admin_key.read_bytes()))


def crd_documents(files: Iterable[Path]) -> list[dict[str, Any]]:
    """The documents of CRD files (trusted, large: read with libyaml when present)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return [doc for file in files for doc in yaml.load_all(Path(file).read_text(), Loader=loader) if doc]


def _group_members(pgid: int, marker: str) -> list[int]:
    """Live (non-zombie) processes of group `pgid`, if one of them has `marker` on its command line.

    The marker (the state dir) guards against a recycled pid: a group that is not ours is reported empty.
    """
    members, ours = [], False
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = (Path("/proc") / entry / "stat").read_text()
            state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
            if int(pgrp) != pgid or state == "Z":
                continue
            members.append(int(entry))
            ours = ours or marker in (Path("/proc") / entry / "cmdline").read_text(errors="replace")
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue  # exited while we looked
    return members if ours else []


def _terminate_group(pgid: int, marker: str, proc: subprocess.Popen[bytes] | None, grace: float = 15.0) -> bool:
    """SIGTERM the process group, SIGKILL it after `grace` seconds, and wait until none of it is left.

    Returns whether anything of the group was running.
    """
    if proc is not None:
        proc.poll()  # reap our own child so that it does not count as running
    if not _group_members(pgid, marker):
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return True
        end = time.monotonic() + wait
        while time.monotonic() < end:
            if proc is not None:
                proc.poll()
            if not _group_members(pgid, marker):
                return True
            time.sleep(0.05)
    raise RuntimeError(f"process group {pgid} ({marker}) survived SIGKILL")
