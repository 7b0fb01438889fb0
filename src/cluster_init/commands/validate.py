"""`cluster-init validate ENV_DIR`: the values and secrets against the chart's schema and cross-field rules."""

from __future__ import annotations

from cluster_init.commands import args as common

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

NAME = "validate"
SUMMARY = "Check values and secrets against the chart's schema and cross-field rules."
EXAMPLE = "cluster-init validate environment-values/kubeadm-capo"
arguments = common.environment


def run(args: argparse.Namespace) -> int:
    from cluster_init.output import escape

    env = common.valid_environment(args)
    print(f"{escape(str(env.directory))}: valid for the {args.context} context")
    return 0
