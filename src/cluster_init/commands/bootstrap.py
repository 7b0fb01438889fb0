"""`cluster-init bootstrap ENV_DIR`: the bootstrap cluster, Flux, the chart's release, every unit followed live."""

from __future__ import annotations

from cluster_init.commands import args as common
from cluster_init.errors import InputError, Problem

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

NAME = "bootstrap"
SUMMARY = "Create the bootstrap cluster, install Flux and the chart, and follow every unit to a management cluster."
DESCRIPTION = (
    "From nothing to a management cluster: a kind bootstrap cluster (or the cluster of --kubeconfig), Flux, this "
    "repository as the source (default: the working tree, uncommitted changes included, pushed to a local "
    "registry), the chart's release with the environment's values and secrets, then every unit followed live. "
    "Every step can be run again: after an interruption, run the same command to go on.")
EPILOG = ("examples:\n"
          "  cluster-init bootstrap environment-values/kubeadm-capd\n"
          "  cluster-init bootstrap environment-values/rke2-capo --source git https://git.example/ci.git@refs/heads/main\n"
          "  cluster-init bootstrap environment-values/kubeadm-capd --kubeconfig existing.kubeconfig -o json\n\n"
          "exit codes: 0 every unit Ready, 1 a unit failed or a step failed (run again to go on), 2 bad input,\n"
          "3 timed out, 130 interrupted. A unit suspended in the values stops what depends on it.")


def arguments(p: argparse.ArgumentParser) -> None:
    from pathlib import Path

    common.environment(p, context=False)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--kind", dest="kind_name", default="cluster-init", type=common.name, metavar="NAME",
                       help="name of the kind bootstrap cluster, created unless it exists (default: cluster-init)")
    where.add_argument("--kubeconfig", type=Path, metavar="FILE",
                       help="use the cluster of this kubeconfig as the bootstrap cluster (never deleted)")
    p.add_argument("--source", nargs="+", default=["local"], metavar="SOURCE",
                   help="`local` (default): the working tree, pushed to the local registry; "
                        "`git URL@REF`: a git remote at a ref such as refs/heads/main")
    p.add_argument("-n", "--namespace", default="cluster-init", type=common.namespace,
                   help="namespace of the chart's release and its units (default: cluster-init)")
    p.add_argument("--timeout", type=common.seconds, default=3600.0, metavar="SECONDS",
                   help="how long the units may take (default: 3600)")
    p.add_argument("--management-kubeconfig", type=Path, metavar="FILE",
                   help="where to write the management cluster's kubeconfig (default: ./<cluster name>.kubeconfig)")
    p.add_argument("--keep-bootstrap", action="store_true",
                   help="keep the kind bootstrap cluster after the pivot (it is deleted once the management "
                        "cluster is proven to manage itself)")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text",
                   help="text: a live tree on a terminal, one line per change otherwise; json: event lines")


def source_of(words: list[str]) -> str:
    if words == ["local"]:
        return "local"
    if len(words) == 2 and words[0] == "git" and "@" in words[1] and words[1].rpartition("@")[0]:
        url, _, ref = words[1].rpartition("@")
        if url.startswith(("https://", "http://", "ssh://")) and ref.startswith("refs/"):
            return f"git {words[1]}"
    raise InputError([Problem("--source", "", f"`{' '.join(words)}` is not a source",
                              "give `local` or `git URL@REF`, e.g. git https://git.example/ci.git@refs/heads/main")])


def run(args: argparse.Namespace) -> int:
    from cluster_init import bootstrap, environment
    from cluster_init.validation import validate

    source = source_of(args.source)
    env = environment.load(args.env_dir)
    validate(env, "bootstrap")
    options = bootstrap.Options(kind_name=None if args.kubeconfig else args.kind_name, kubeconfig=args.kubeconfig,
                                source=source, namespace=args.namespace, timeout=args.timeout, output=args.output,
                                management_kubeconfig=args.management_kubeconfig,
                                keep_bootstrap=args.keep_bootstrap)
    return bootstrap.run(env, options)
