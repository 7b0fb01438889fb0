"""The offline stack (tier T2): dockerd, kind and every image of the bundle, built from the pinned sources.

Test infrastructure only, never part of the product: it mirrors the upstream artifacts the way an
air-gapped operator would, from the Go module proxy and Debian's packages.
"""


def build_all() -> list[str]:
    """Everything the T2 tier and `make bootstrap` use, so a later run only pays for what changed; what it made."""
    from testenv.stack import charts, controllers, host, loadbalancer, node, product, registry, sources

    host.ensure_host()
    made = [node.node_image()]
    registry.push([controllers.ensure_image(c) for c in controllers.all_controllers()])
    registry.push([loadbalancer.image(), node.kube_router_image()])  # what the bundle names beyond them
    registry.push([product.image()])  # this repository's own image (the pivot Job)
    return [*made, *sources.publish().values(), charts.publish()]
