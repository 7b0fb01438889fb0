"""The stack's local OCI registry: where the kind nodes (and the nodes CAPD creates) pull from.

distribution's registry, built from its pinned module into a `FROM scratch` image, runs as the
container `cluster-init-registry` on kind's Docker network (the nodes resolve it by name) and on
127.0.0.1:5001 for the host. Its storage lives in the stack cache, so what was pushed once stays.
Each upstream registry is mirrored under a path of its own name: ghcr.io/fluxcd/x is served as
cluster-init-registry:5000/ghcr.io/fluxcd/x, and containerd's hosts.toml sends pulls there.
"""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

from testenv.build import BuildError
from testenv.stack import gobuild, images
from testenv.stack.gobuild import GoBinary
from testenv.stack.host import stack_dir
from testenv.stack.progress import step
from testenv.stack.versions import pins

NAME = "cluster-init-registry"
NETWORK = "kind"  # kind's own network: created here with kind's settings when kind has not made it yet
HOST_PORT = 5001
PORT = 5000
MIRRORED = ("registry.k8s.io", "ghcr.io", "quay.io", "docker.io")
CONFIG = """version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: /var/lib/registry}
  delete: {enabled: true}
http: {addr: ":5000"}
"""


def image() -> str:
    pin = pins()["stack"]["registry"]
    binary = gobuild.ensure(GoBinary("registry", pin["module"], pin["version"], f"{pin['module']}/cmd/registry"))
    config = stack_dir() / "registry-config.yml"
    if not config.is_file() or config.read_text() != CONFIG:
        config.write_text(CONFIG)
    dockerfile = ("FROM scratch\nCOPY registry /registry\nCOPY config.yml /etc/distribution/config.yml\n"
                  'ENTRYPOINT ["/registry", "serve", "/etc/distribution/config.yml"]\n')
    return images.build(f"cluster-init-stack/registry:{pin['version']}", dockerfile,
                        {"registry": binary, "config.yml": config})


def _running() -> bool:
    proc = subprocess.run(["docker", "inspect", "--format", "{{.State.Running}}", NAME], capture_output=True,
                          text=True, check=False)
    return proc.stdout.strip() == "true"


def ensure_network() -> None:
    if subprocess.run(["docker", "network", "inspect", NETWORK], capture_output=True, check=False).returncode:
        images.docker("network", "create", "--driver", "bridge", "--opt",
                      "com.docker.network.bridge.enable_ip_masquerade=true", NETWORK)


def ensure_registry(timeout: float = 30.0) -> str:
    """The registry running and answering; returns the host address for pushes (127.0.0.1:5001)."""
    tag = image()
    ensure_network()
    if not _running():
        subprocess.run(["docker", "rm", "--force", NAME], capture_output=True, check=False)
        storage = stack_dir() / "registry"
        storage.mkdir(parents=True, exist_ok=True)
        with step(f"start {NAME}"):
            images.docker("run", "--detach", "--name", NAME, "--restart", "unless-stopped", "--network", NETWORK,
                          "--publish", f"127.0.0.1:{HOST_PORT}:{PORT}", "--volume", f"{storage}:/var/lib/registry",
                          tag)
    address = f"127.0.0.1:{HOST_PORT}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}/v2/", timeout=2):
                return address
        except OSError as e:
            if time.monotonic() > deadline:
                raise BuildError(f"{NAME} does not answer on {address}: {e}") from None
            time.sleep(0.2)


def mirror_path(ref: str) -> str:
    """Where an upstream reference lives in the local registry: `ghcr.io/fluxcd/x:v1` -> `ghcr.io/fluxcd/x:v1`,
    a reference without a registry is docker.io's (`library/` added for single names)."""
    first, _, rest = ref.partition("/")
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}" if rest else f"docker.io/library/{ref}"


def push(refs: list[str]) -> None:
    """Push local images into the registry, each under its upstream name (layers already there are not sent)."""
    address = ensure_registry()
    for ref in refs:
        local = f"{address.replace('127.0.0.1', 'localhost')}/{mirror_path(ref)}"
        images.docker("tag", ref, local)
        with step(f"push {ref}"):
            images.docker("push", "--quiet", local)


def hosts_toml(upstream: str) -> str:
    """containerd's mirror config for one upstream registry: the local registry first, under the upstream's name."""
    return (f'server = "https://{upstream}"\n\n'
            f'[host."http://{NAME}:{PORT}/v2/{upstream}"]\n'
            '  capabilities = ["pull", "resolve"]\n'
            "  override_path = true\n")


def containerd_mirrors(root: Path) -> None:
    """Write /etc/containerd/certs.d/<upstream>/hosts.toml for each mirrored registry under `root`, leaving
    files that already say the same untouched (images are keyed by their files' mtimes)."""
    for upstream in MIRRORED:
        folder = root / upstream
        folder.mkdir(parents=True, exist_ok=True)
        hosts = folder / "hosts.toml"
        if not hosts.is_file() or hosts.read_text() != hosts_toml(upstream):
            hosts.write_text(hosts_toml(upstream))
