"""`cluster-init watch`: the units live, in dependency order, until every one is Ready (or held by a suspended one)."""

from __future__ import annotations

from cluster_init.commands import args as common

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

NAME = "watch"
SUMMARY = "Follow the units live until every one is Ready: state, time, and why the failing one fails."
EPILOG = ("examples:\n"
          "  cluster-init watch\n"
          "  cluster-init watch --kind my-bootstrap -o json | jq .\n\n"
          "exit codes: 0 every unit Ready, 1 a unit failed (Stalled), 3 timed out, 130 interrupted.\n"
          "Driven by watches on the cluster: nothing is polled on a timer.")


def arguments(p: argparse.ArgumentParser) -> None:
    common.bootstrap_cluster(p)
    p.add_argument("--timeout", type=common.seconds, default=3600.0, metavar="SECONDS",
                   help="give up after this long (default: 3600)")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text",
                   help="text: a live tree on a terminal, one line per change otherwise; json: event lines")


def run(args: argparse.Namespace) -> int:
    return watch_units(args, args.timeout)


def watch_units(args: argparse.Namespace, timeout: float) -> int:
    import tempfile
    from pathlib import Path

    from cluster_init import bootstrap, follow

    with tempfile.TemporaryDirectory(prefix="cluster-init-") as work:
        config = bootstrap.connect(args.kind_name, args.kubeconfig, Path(work))
        show = follow.printer(args.output)
        code: int = bootstrap.on(config, lambda c: follow.follow(c, args.namespace, timeout, show))
    return code
