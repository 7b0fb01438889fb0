"""Argument types and options shared by the commands: each refuses bad input with one line, in argparse's way."""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from cluster_init.environment import Environment

DNS_LABEL_MAX = 63
MAX_SECONDS = 7 * 24 * 3600.0
MAX_IN_FLIGHT = 1024


def environment(parser: argparse.ArgumentParser, *, context: bool = True) -> None:
    """ENV_DIR, and the chart's context and namespace: the arguments of the offline commands."""
    from pathlib import Path

    parser.add_argument("env_dir", metavar="ENV_DIR", type=Path,
                        help="environment folder, e.g. environment-values/kubeadm-capd")
    if context:
        parser.add_argument("--context", choices=["bootstrap", "management"], default="bootstrap",
                            help="where the chart runs: the bootstrap cluster (default) or the management cluster")
        parser.add_argument("-n", "--namespace", default="cluster-init", type=namespace,
                            help="namespace of the chart's release and its units (default: cluster-init)")


def valid_environment(args: argparse.Namespace, *, warn: bool = True) -> Environment:
    """The environment of ENV_DIR, validated for the context (InputError otherwise); `warn` prints warnings."""
    from cluster_init import environment, output
    from cluster_init.validation import validate

    env = environment.load(args.env_dir)
    for warning in validate(env, args.context):
        if warn:
            output.problem("warning", warning)
    return env


def debug_flag(parser: argparse.ArgumentParser) -> None:
    """--debug is read from argv by the top-level handler (it must work even when parsing fails)."""
    import argparse

    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an unexpected error, print the full trace")


def namespace(text: str) -> str:
    """A Kubernetes namespace: a DNS-1123 label, so nothing else can reach the generated YAML."""
    import argparse
    import re

    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", text) or len(text) > DNS_LABEL_MAX:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a namespace name; use a DNS-1123 label: "
                                         f"lowercase letters, digits and '-', at most {DNS_LABEL_MAX} characters")
    return text


def name(text: str) -> str:
    """A Kubernetes object name (Secret, ConfigMap): a DNS-1123 subdomain."""
    import argparse
    import re

    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", text) or len(text) > 253:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not an object name; use lowercase letters, digits, "
                                         "'-' and '.', at most 253 characters")
    return text


def seconds(text: str) -> float:
    """A duration in seconds: finite, not negative, at most a week (larger ones overflow timers)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_SECONDS:  # also false for NaN
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a number of seconds between 0 and {MAX_SECONDS:.0f}")
    return value


def count(text: str) -> int:
    """A count of requests in flight: at least 1 (0 would wait forever)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_IN_FLIGHT:
        raise argparse.ArgumentTypeError(f"{shown(text)} is not a whole number between 1 and {MAX_IN_FLIGHT}")
    return value


def shown(text: str) -> str:
    from cluster_init.output import escape

    return f"`{escape(text[:80])}`"


def bootstrap_cluster(parser: argparse.ArgumentParser) -> None:
    """--kind NAME | --kubeconfig FILE: the bootstrap cluster to read."""
    from pathlib import Path

    where = parser.add_mutually_exclusive_group()
    where.add_argument("--kind", dest="kind_name", default="cluster-init", type=name, metavar="NAME",
                       help="the kind bootstrap cluster (default: cluster-init)")
    where.add_argument("--kubeconfig", type=Path, metavar="FILE", help="the bootstrap cluster of this kubeconfig")
    parser.add_argument("-n", "--namespace", default="cluster-init", type=namespace,
                        help="namespace of the chart's release and its units (default: cluster-init)")
