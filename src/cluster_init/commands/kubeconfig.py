"""`cluster-init kubeconfig`: the management cluster's kubeconfig, from the cluster that holds its Cluster object."""

from __future__ import annotations

from cluster_init.commands import args as common
from cluster_init.errors import RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from cluster_init.kube import Client

NAME = "kubeconfig"
SUMMARY = "Write the management cluster's kubeconfig (0600), before or after the pivot."
EPILOG = ("examples:\n"
          "  cluster-init kubeconfig                       # from the kind bootstrap cluster, before the pivot\n"
          "  cluster-init kubeconfig --kubeconfig mgmt.kubeconfig -f fresh.kubeconfig   # after it\n\n"
          "The Cluster object's `<name>-kubeconfig` Secret is read where the Cluster lives: the bootstrap cluster\n"
          "until the pivot, the management cluster itself after it.")


def arguments(p: argparse.ArgumentParser) -> None:
    from pathlib import Path

    common.bootstrap_cluster(p)
    p.add_argument("--cluster", type=common.name, metavar="NAME",
                   help="the Cluster object (default: the only one in the namespace)")
    p.add_argument("-f", "--file", type=Path, metavar="FILE",
                   help="where to write it (default: ./<cluster>.kubeconfig); `-` prints it")


def run(args: argparse.Namespace) -> int:
    import sys
    import tempfile
    from pathlib import Path

    from cluster_init import bootstrap

    with tempfile.TemporaryDirectory(prefix="cluster-init-") as work:
        config = bootstrap.connect(args.kind_name, args.kubeconfig, Path(work))
        name, text = bootstrap.on(config, lambda c: read(c, args.namespace, args.cluster))
    if str(args.file) == "-":
        sys.stdout.write(text)
        return 0
    target = args.file or Path(f"{name}.kubeconfig")
    write_private(target, text)
    print(f"wrote the kubeconfig of {name} to {target} (mode 0600)", file=sys.stderr)
    return 0


async def read(client: Client, namespace: str, cluster: str | None) -> tuple[str, str]:
    from cluster_init.kube import ApiError, KubeconfigError
    from cluster_init.pivot import job

    try:
        clusters = await client.list(await client.resource("cluster.x-k8s.io/v1beta2", "Cluster"), namespace)
    except ApiError:
        clusters = []
    names = sorted(str(c["metadata"]["name"]) for c in clusters)
    if cluster is None and len(names) != 1:
        found = ", ".join(names) or "none"
        raise RuntimeFailure(f"expected one Cluster in namespace {namespace} (found: {found}); "
                             "name it with --cluster, or point --kubeconfig at the cluster that holds it")
    name = cluster or names[0]
    try:  # after the pivot the Secret has moved: the bootstrap cluster still has it in the pivot's backup
        value = await job.target_kubeconfig(client, namespace, f"{name}-kubeconfig", job.JOB_BACKUP_SECRET)
    except KubeconfigError:
        raise RuntimeFailure(f"Cluster {name} has no kubeconfig Secret yet (its control plane is not up); "
                             "see `cluster-init status`") from None
    return name, value.decode()


def write_private(target: Path, text: str) -> None:
    """Written 0600 from the first byte (the file is created with that mode, and an existing one is re-moded)."""
    import os

    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
