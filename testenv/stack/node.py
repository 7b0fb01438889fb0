"""The kind node image, assembled offline the way kind's own node-image builder does it.

kind's builder fetches pause, etcd, coredns and kindnetd from registries, so it cannot run here.
Instead: a base image (a Debian rootfs with kind's `images/base/files`, containerd, runc, crictl and
the CNI plugins built from their pinned modules), then the node image (kubeadm, kubelet and kubectl,
`/kind/version`, the default CNI manifest, and every control-plane image imported into containerd and
pinned), committed with kind's entrypoint. The CNI is the product's kube-router (kindnetd is not
served); the default storage is local-path-provisioner, as in kind (storage.py).
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path
from typing import Any

from testenv.build import ensure_binaries
from testenv.crds import module_dir
from testenv.stack import gobuild, images, registry, storage
from testenv.stack.gobuild import GoBinary
from testenv.stack.host import cgroup_v1, lacks_sys_resource, runc_wrapper, stack_dir
from testenv.stack.progress import step
from testenv.stack.versions import pins, stack, upstream

NODE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "conntrack", "iptables", "nftables", "iproute2", "ethtool",
                 "util-linux", "mount", "kmod", "libseccomp2", "pigz", "fuse-overlayfs", "e2fsprogs", "bash",
                 "ca-certificates", "curl", "jq", "procps", "ipset")
# Images that run iptables or ipset (kube-proxy, kube-router) get a small Debian userland.
NETWORK_PACKAGES = ("iptables", "ipset", "iproute2", "conntrack", "kmod", "bash")
CNI_PLUGINS = ("bridge", "host-local", "loopback", "portmap", "ptp")
K8S_REGISTRY = "registry.k8s.io"
MOUNT_HOOK = "/kind/bin/mount-product-files.sh"  # kind's createContainer hook (files/kind/bin)
CNI_MANIFEST = Path(__file__).resolve().parents[2] / "kustomize-components" / "cni-kube-router" / "kube-router.yaml"


def kubernetes_version() -> str:
    return str(pins()["upstreams"]["kubernetes"]["version"])


def node_tag() -> str:
    pin = pins()["upstreams"]["kind-node"]
    return f"{pin['url']}:{pin['version']}"


def _bin(name: str, pin: str, package: str, **kw: Any) -> GoBinary:
    entry = stack(pin)
    return GoBinary(name, entry["module"], entry["version"], package, **kw)


def runtime_binaries() -> dict[str, Path]:
    """containerd, its shim, ctr, runc (cgo, seccomp) and crictl, at kind's pins."""
    containerd = stack("containerd")
    stamp = (f"-X github.com/containerd/containerd/v2/version.Version={containerd['version']}",)
    tags = ("no_btrfs", "no_devmapper", "no_zfs", "no_aufs")
    built = {
        name: gobuild.ensure(_bin(name, "containerd", f"github.com/containerd/containerd/v2/cmd/{name}",
                                  tags=tags, ldflags=stamp))
        for name in ("containerd", "containerd-shim-runc-v2", "ctr")
    }
    runc = stack("runc")
    built["runc"] = gobuild.ensure(_bin("runc", "runc", "github.com/opencontainers/runc", cgo=True, tags=("seccomp",),
                                        ldflags=(f"-X main.version={runc['version'].lstrip('v')}",)))
    built["crictl"] = gobuild.ensure(_bin("crictl", "crictl", "sigs.k8s.io/cri-tools/cmd/crictl"))
    return built


def cni_plugins() -> dict[str, Path]:
    folders = {"bridge": "main", "loopback": "main", "ptp": "main", "host-local": "ipam", "portmap": "meta"}
    return {name: gobuild.ensure(_bin(name, "cni-plugins",
                                      f"github.com/containernetworking/plugins/plugins/{folders[name]}/{name}"))
            for name in CNI_PLUGINS}


def pause_binary() -> Path:
    """pause, compiled static from the C source in the pinned Kubernetes module (as upstream builds it)."""
    version = stack("pause")["version"]
    out = stack_dir() / "bin" / f"pause-{version}" / "pause"
    if out.is_file():
        return out
    source = module_dir("k8s.io/kubernetes", kubernetes_version()) / "build" / "pause" / "linux" / "pause.c"
    out.parent.mkdir(parents=True, exist_ok=True)
    with step(f"build pause {version}"):
        subprocess.run(["gcc", "-Os", "-Wall", "-Werror", "-static", f'-DVERSION=v{version}', "-o", str(out),
                        str(source)], check=True, capture_output=True)
    return out


def control_plane_images() -> list[str]:
    """Every image kubeadm asks for at the pinned Kubernetes, plus kube-router and kind's default storage,
    tagged as upstream names them."""
    version = kubernetes_version()
    bins = ensure_binaries(names=("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy"))
    tags = [images.static_image(f"{K8S_REGISTRY}/{name}:{version}", bins / name, f"/usr/local/bin/{name}")
            for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")]
    net = images.rootfs_image(NETWORK_PACKAGES)
    tags.append(images.build(f"{K8S_REGISTRY}/kube-proxy:{version}",
                             f"FROM {net}\nCOPY kube-proxy /usr/local/bin/kube-proxy\n",
                             {"kube-proxy": bins / "kube-proxy"}))
    etcd = stack("etcd")
    etcd_bin = gobuild.ensure(GoBinary("etcd", etcd["module"], etcd["version"], etcd["module"],
                                       ldflags=(f"-X go.etcd.io/etcd/api/v3/version.GitSHA={etcd['version']}",)))
    tags.append(images.static_image(f"{K8S_REGISTRY}/etcd:{etcd['image_tag']}", etcd_bin, "/usr/local/bin/etcd"))
    coredns = stack("coredns")
    coredns_bin = gobuild.ensure(_bin("coredns", "coredns", "github.com/coredns/coredns"))
    tags.append(images.static_image(f"{K8S_REGISTRY}/coredns/coredns:{coredns['version']}", coredns_bin,
                                    "/usr/local/bin/coredns"))
    pause = stack("pause")["version"]
    tags.append(images.static_image(f"{K8S_REGISTRY}/pause:{pause}", pause_binary(), "/usr/local/bin/pause"))
    tags.append(kube_router_image())
    return tags + storage.storage_images(net)


def kube_router_ref() -> str:
    """The image the product's cni unit names (upstreams.kube-router)."""
    pin = upstream("kube-router")
    return f"{pin['image_registry']}/kube-router:{pin['version']}"


def kube_router_image() -> str:
    pin = upstream("kube-router")
    module, version = pin["module"], pin["version"]
    binary = gobuild.ensure(GoBinary("kube-router", module, version, f"{module}/cmd/kube-router",
                                     ldflags=(f"-X {module}/pkg/version.Version={version}",)))
    net = images.rootfs_image(NETWORK_PACKAGES)
    return images.build(kube_router_ref(),
                        f"FROM {net}\nCOPY kube-router /usr/local/bin/kube-router\n"
                        'ENTRYPOINT ["/usr/local/bin/kube-router"]\n',
                        {"kube-router": binary})


def base_image() -> str:
    """kind's base image: its files on a Debian rootfs, with the runtime built here."""
    kind_files = module_dir("sigs.k8s.io/kind", str(pins()["tools"]["kind"]["version"])) / "images" / "base" / "files"
    rootfs = images.rootfs_image(NODE_PACKAGES)
    mirrors = stack_dir() / "certs.d"
    registry.containerd_mirrors(mirrors)
    files: dict[str, Path] = {"files": kind_files, "certs.d": mirrors}
    files |= {f"bin/{name}": path for name, path in runtime_binaries().items()}
    files |= {f"cni/{name}": path for name, path in cni_plugins().items()}
    runc_target = "/usr/local/sbin/runc"
    if lacks_sys_resource():  # this machine's fact: the node's containers go through our wrapper too
        files["bin/runc-wrapper"] = runc_wrapper()
        runc_target = "/usr/local/sbin/runc.real"
    # On cgroup v1, runc's systemd driver freezes every new container while systemd applies its device
    # rules, and on these machines that freeze fails now and then (`unable to freeze`: a pod sandbox lost,
    # the kubelet retries 10-18 s later). runc's cgroupfs driver sets the same rules without freezing;
    # the kubelet takes its driver from containerd (KubeletCgroupDriverFromCRI, GA since 1.34).
    cgroup_driver = " && sed -i 's/SystemdCgroup = true/SystemdCgroup = false/' /etc/containerd/config.toml \\\n" \
        if cgroup_v1() else ""
    modes = {"files/usr/local/bin/entrypoint": 0o755, "files/usr/local/bin/clean-install": 0o755,
             **{f"files/kind/bin/{p.name}": 0o755 for p in (kind_files / "kind" / "bin").iterdir()}}
    dockerfile = f"""FROM {rootfs}
COPY files/ /
COPY bin/containerd bin/containerd-shim-runc-v2 bin/ctr bin/crictl /usr/local/bin/
COPY bin/runc {runc_target}
COPY cni/ /opt/cni/bin/
COPY certs.d/ /etc/containerd/certs.d/
{"COPY bin/runc-wrapper /usr/local/sbin/runc" if runc_target != "/usr/local/sbin/runc" else ""}
RUN chmod 755 /kind /kind/bin \\
 && find /lib/systemd/system/sysinit.target.wants/ -name systemd-tmpfiles-setup.service -delete \\
 && rm -f /lib/systemd/system/multi-user.target.wants/* /etc/systemd/system/*.wants/* \\
          /lib/systemd/system/local-fs.target.wants/* /lib/systemd/system/sockets.target.wants/*udev* \\
          /lib/systemd/system/sockets.target.wants/*initctl* /lib/systemd/system/basic.target.wants/* \\
 && echo ReadKMsg=no >> /etc/systemd/journald.conf \\
 && systemctl enable kubelet.service containerd.service undo-mount-hacks.service \\
 && systemctl mask systemd-binfmt.service \\
{cgroup_driver} && mkdir -p /etc/kubernetes/manifests \\
 && printf '\\n[plugins."io.containerd.grpc.v1.cri".registry]\\n  config_path = "/etc/containerd/certs.d"\\n' \\
    >> /etc/containerd/config.toml \\
 && ctr oci spec \\
    | jq '.hooks.createContainer[.hooks.createContainer|length] |= . + {{"path": "{MOUNT_HOOK}"}}' \\
    | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json
ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT ["/usr/local/bin/entrypoint", "/sbin/init"]
"""
    return images.build("cluster-init-stack/kind-base:latest", dockerfile, files, modes)


def default_cni_manifest() -> str:
    """The product's cni unit as kind's default CNI (/kind/manifests/default-cni.yaml), its two variables
    filled in from the pin as the chart fills them in for Flux."""
    pin = upstream("kube-router")
    return CNI_MANIFEST.read_text().replace("${KUBE_ROUTER_IMAGE_REGISTRY}", pin["image_registry"]).replace(
        "${KUBE_ROUTER_VERSION}", pin["version"])


def node_image() -> str:
    """The kind node image at the pinned Kubernetes, every image it needs preloaded: nothing is pulled."""
    base = base_image()
    bins = ensure_binaries(names=("kubeadm", "kubelet", "kubectl"))
    preload = control_plane_images()
    tar = images.save(preload, stack_dir() / "node-images.tar")
    tag = node_tag()
    key = images.digest(base, images.image_input(base), [(t, images.image_input(t)) for t in preload],
                        images.fingerprint(bins), default_cni_manifest(), storage.manifest(),
                        import_script(len(preload)))
    if images.image_input(tag) == key:
        return tag
    with step(f"node image {tag}"):
        _assemble(base, bins, tar, tag, key, len(preload))
    return tag


def import_script(expected: int) -> str:
    """Run inside the node container: containerd started, every image imported as kind's builder does it
    (not unpacked: that needs mounts; pinned: the kubelet never evicts them), the sandbox image set."""
    pause = f"{K8S_REGISTRY}/pause:{stack('pause')['version']}"
    return (
        "set -euo pipefail\n"
        f"sed -i 's#sandbox_image = .*#sandbox_image = \"{pause}\"#' /etc/containerd/config.toml\n"
        "containerd >/tmp/containerd.log 2>&1 & pid=$!\n"
        "trap 'kill $pid; wait $pid || true; rm -f /tmp/containerd.log' EXIT\n"
        "for i in $(seq 1 100); do ctr version >/dev/null 2>&1 && break; sleep 0.1; done\n"
        "ctr --namespace=k8s.io images import --all-platforms --no-unpack --digests "
        "--label=io.cri-containerd.pinned=pinned /kind/images.tar\n"
        "rm /kind/images.tar\n"
        f"test \"$(ctr --namespace=k8s.io images ls -q | grep -vc '^sha256:')\" -ge {expected}\n"
    )


def _assemble(base: str, bins: Path, tar: Path, tag: str, key: str, expected: int) -> None:
    container = images.docker("run", "--detach", "--entrypoint", "sleep", base, "infinity").strip()
    try:
        for name in ("kubeadm", "kubelet", "kubectl"):
            images.docker("cp", str(bins / name), f"{container}:/usr/bin/{name}")
        with tempfile.TemporaryDirectory(dir=stack_dir()) as tmp:
            (Path(tmp) / "version").write_text(kubernetes_version())
            (Path(tmp) / "default-cni.yaml").write_text(default_cni_manifest())
            (Path(tmp) / "default-storage.yaml").write_text(storage.manifest())
            images.docker("exec", container, "mkdir", "-p", "/kind/manifests")
            images.docker("cp", f"{tmp}/version", f"{container}:/kind/version")
            for manifest in ("default-cni.yaml", "default-storage.yaml"):
                images.docker("cp", f"{tmp}/{manifest}", f"{container}:/kind/manifests/{manifest}")
        images.docker("cp", str(tar), f"{container}:/kind/images.tar")
        images.docker("exec", container, "bash", "-c", import_script(expected))
        images.docker("commit", "--change", 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]',
                      "--change", f"LABEL {images.INPUT_LABEL}={key}", container, tag)
    finally:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, check=False)


def kind_binary() -> Path:
    """The product's own kind (built once, by `make setup` or here)."""
    from cluster_init import tools

    return tools.install("kind")

