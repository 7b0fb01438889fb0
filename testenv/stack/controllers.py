"""Images of the controllers the bundle deploys, built from their pinned modules, named as upstream names them.

Each is a static binary in a `FROM scratch` image running as an unprivileged user, tagged with the
image name and tag the upstream manifests (after the chart's own `images:` overrides) ask for.
Versions come from versions.yaml: `upstreams` for what users get, `twin.flux-controllers` for Flux's
controllers. Where the test stack must deviate from a pin, the deviation is named here and in the README.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from testenv.stack import gobuild, images
from testenv.stack.gobuild import GoBinary
from testenv.stack.versions import pins

FLUX_DIGEST = "github.com/opencontainers/go-digest"
KUSTOMIZE_API = (("sigs.k8s.io/kustomize/api", "v0.21.1"), ("sigs.k8s.io/kustomize/kyaml", "v0.21.1"))
# cert-manager's binaries are not served at any supported version (nested modules since v1.12): the
# stack runs the newest real cert-manager that builds from the main module. Users get the pin.
CERT_MANAGER_STACK_VERSION = "v1.11.5"


class Controller(NamedTuple):
    image: str  # repository without tag, as the manifests name it
    tag: str
    binary: GoBinary
    user: str = "65532:65532"  # as upstream's image runs it


def _up(name: str) -> dict[str, Any]:
    entry: dict[str, Any] = pins()["upstreams"][name]
    return entry


def flux() -> list[Controller]:
    """source-, kustomize- and helm-controller at the versions upstreams.flux ships.

    Their go.mod replaces `./api` (pinned here to the served api module of the same version) and a few
    dependencies (kept as upstream pins them); source-controller needs fluxcd/pkg/artifact v0.18.3, whose
    zip the proxy refuses: v0.18.0 is served and builds.
    """
    versions = pins()["twin"]["flux-controllers"]
    registry = _up("flux")["image_registry"]
    extra: dict[str, tuple[tuple[str, str], ...]] = {
        "source-controller": ((FLUX_DIGEST, "v1.0.1-0.20220411205349-bde1400a84be"),
                              ("github.com/fluxcd/pkg/artifact", "v0.18.0")),
        "kustomize-controller": ((FLUX_DIGEST, "v1.0.1-0.20220411205349-bde1400a84be"), *KUSTOMIZE_API,
                                 ("gopkg.in/yaml.v3", "v3.0.1")),
        "helm-controller": ((FLUX_DIGEST, "v1.0.1-0.20231025023718-d50d2fec9c98"), *KUSTOMIZE_API),
    }
    out = []
    for name, version in versions.items():
        module = f"github.com/fluxcd/{name}"
        binary = GoBinary(name, module, version, module,
                          replaces=((f"{module}/api", version), *extra[name]))
        out.append(Controller(f"{registry}/{name}", version, binary))
    return out


def cluster_api() -> list[Controller]:
    """Core, kubeadm bootstrap and control plane, CAPD: the module's `replace ./api` pinned to the served api."""
    pin = _up("cluster-api")
    version, registry, module = pin["version"], pin["image_registry"], pin["module"]
    stamp = (f"-X sigs.k8s.io/cluster-api/version.gitVersion={version}",)
    api = ((f"{module}/api", version), (module, version))
    return [
        Controller(f"{registry}/cluster-api-controller", version,
                   GoBinary("cluster-api-controller", module, version, f"{module}/core", ldflags=stamp,
                            replaces=api[:1])),
        Controller(f"{registry}/kubeadm-bootstrap-controller", version,
                   GoBinary("kubeadm-bootstrap-controller", module, version, f"{module}/bootstrap/kubeadm",
                            ldflags=stamp, replaces=api[:1])),
        Controller(f"{registry}/kubeadm-control-plane-controller", version,
                   GoBinary("kubeadm-control-plane-controller", module, version, f"{module}/controlplane/kubeadm",
                            ldflags=stamp, replaces=api[:1])),
        # Upstream's CAPD image runs as root: it drives the Docker socket the nodes mount.
        Controller(f"{registry}/capd-manager", version,
                   GoBinary("capd-manager", f"{module}/test", version, f"{module}/test/infrastructure/docker",
                            ldflags=stamp, replaces=api), user="0:0"),
    ]


def cert_manager() -> list[Controller]:
    """cert-manager at CERT_MANAGER_STACK_VERSION (see above), its images named as its chart names them."""
    module, version = "github.com/cert-manager/cert-manager", CERT_MANAGER_STACK_VERSION
    registry = _up("cert-manager")["image_registry"]
    stamp = (f"-X github.com/cert-manager/cert-manager/pkg/util.AppVersion={version}",)
    # image name -> command: v1.11's startup API check is `ctl`; the bundle's values name its image
    # cert-manager-startupapicheck (the name it has had since v1.15), so that is the name it gets here.
    commands = {"controller": "controller", "webhook": "webhook", "cainjector": "cainjector",
                "startupapicheck": "ctl"}
    return [Controller(f"{registry}/cert-manager-{image}", version,
                       GoBinary(f"cert-manager-{command}", module, version, f"{module}/cmd/{command}", ldflags=stamp))
            for image, command in commands.items()]


def other_providers() -> list[Controller]:
    """CAPRKE2 (bootstrap, control plane), CAPO and ORC: the providers of the rke2 and capo environments."""
    rke2, capo, orc = _up("cluster-api-provider-rke2"), _up("cluster-api-provider-openstack"), _up(
        "openstack-resource-controller")
    no_sumdb = tuple(sorted(p["module"] for p in pins()["upstreams"].values() if p.get("gonosumdb")))
    out = [Controller(f"{rke2['image_registry']}/cluster-api-provider-rke2-{part}", rke2["version"],
                      GoBinary(f"cluster-api-provider-rke2-{part}", rke2["module"], rke2["version"],
                               f"{rke2['module']}/{part}"))
           for part in ("bootstrap", "controlplane")]
    out.append(Controller(f"{capo['image_registry']}/capi-openstack-controller", capo["version"],
                          GoBinary("capi-openstack-controller", capo["module"], capo["version"], capo["module"],
                                   no_sumdb=no_sumdb)))
    out.append(Controller(f"{orc['image_registry']}/openstack-resource-controller", orc["version"],
                          GoBinary("openstack-resource-controller", orc["module"], orc["version"],
                                   f"{orc['module']}/cmd/manager", no_sumdb=no_sumdb)))
    return out


def all_controllers() -> list[Controller]:
    return flux() + cluster_api() + cert_manager() + other_providers()


def ensure_image(controller: Controller) -> str:
    binary = gobuild.ensure(controller.binary)
    dockerfile = (
        "FROM scratch\n"
        f"COPY {binary.name} /manager\n"
        f"USER {controller.user}\n"
        'ENTRYPOINT ["/manager"]\n'
    )
    return images.build(f"{controller.image}:{controller.tag}", dockerfile, {binary.name: binary})
