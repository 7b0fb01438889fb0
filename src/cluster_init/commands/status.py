"""`cluster-init status`: where the units stand, once (the one-shot `watch`)."""

from __future__ import annotations

from cluster_init.commands import args as common

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

NAME = "status"
SUMMARY = "Show where every unit stands, once: state, time, and why the failing one fails."
EPILOG = ("examples:\n"
          "  cluster-init status\n"
          "  cluster-init status --kubeconfig bootstrap.kubeconfig -o json\n\n"
          "exit codes: 0 every unit Ready, 1 a unit failed (Stalled), 3 not done yet.")


def arguments(p: argparse.ArgumentParser) -> None:
    common.bootstrap_cluster(p)
    p.add_argument("-o", "--output", choices=["text", "json"], default="text",
                   help="text (one line per unit and what it drives) or json (one line each) for scripts")


def run(args: argparse.Namespace) -> int:
    import datetime as dt
    import sys
    import tempfile
    from pathlib import Path

    from cluster_init import bootstrap, follow, unitstate

    with tempfile.TemporaryDirectory(prefix="cluster-init-") as work:
        config = bootstrap.connect(args.kind_name, args.kubeconfig, Path(work))
        snap = bootstrap.on(config, lambda c: follow.snapshot(c, args.namespace))
    show = follow.JsonPrinter() if args.output == "json" else follow.Printer(sys.stdout)
    show.show(unitstate.rows(snap, dt.datetime.now(dt.UTC)))
    code = follow.all_settled(snap)
    return follow.TIMED_OUT if code is None else code
