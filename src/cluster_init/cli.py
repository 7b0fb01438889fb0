"""The cluster-init command line. Imports are deferred so `--help` starts fast."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from cluster_init.speculation import Speculation

EPILOG = """\
examples:
  cluster-init validate environment-values/kubeadm-capd
  cluster-init plan environment-values/rke2-capo --context management -o json
  cluster-init plan environment-values/kubeadm-capd -o dot | dot -Tsvg > units.svg
  cluster-init render environment-values/kubeadm-capd > bootstrap.yaml
  cluster-init pivot --from-kubeconfig bootstrap.kubeconfig --to-kubeconfig mgmt.kubeconfig --dry-run

exit codes: 0 success, 1 runtime failure, 2 bad input (one line per problem:
file:line: field: what is wrong; what to do). Secret values are never printed.
"""


def _formatter() -> Callable[..., argparse.HelpFormatter]:
    """argparse's raw-description formatter at the terminal's width, found without importing shutil.

    argparse would import shutil (and with it bz2 and lzma) to ask that width of every argument it adds.
    """
    import argparse
    import functools
    import os

    try:
        width = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(sys.stdout.fileno()).columns
    except (AttributeError, ValueError, OSError):
        width = 80
    return functools.partial(argparse.RawDescriptionHelpFormatter, width=width - 2)


def _parser() -> argparse.ArgumentParser:
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(
        prog="cluster-init",
        description="Bootstrap a self-managed Cluster API management cluster with Flux. These commands "
                    "check an environment folder (values.yaml + secrets.yaml) before any cluster is touched.",
        epilog=EPILOG, formatter_class=_formatter())
    _debug_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, description=summary, epilog=f"example:\n  {example}",
                           formatter_class=_formatter())
        p.add_argument("env_dir", metavar="ENV_DIR", type=Path,
                       help="environment folder, e.g. environment-values/kubeadm-capd")
        _debug_flag(p)
        return p

    validate = command("validate", "Check values and secrets against the chart's schema and cross-field rules.",
                       "cluster-init validate environment-values/kubeadm-capo")
    plan = command("plan", "List the units that would be applied, in apply order, with their dependencies.",
                   "cluster-init plan environment-values/kubeadm-capd --context management -o json")
    plan.add_argument("-o", "--output", choices=["text", "json", "yaml", "dot"], default="text",
                      help="text (a tree, default), json or yaml for scripts, dot for Graphviz")
    render = command("render", "Print every manifest that would be applied, as one YAML stream (secrets masked).",
                     "cluster-init render environment-values/rke2-capd --context management")
    for p in (validate, plan, render):
        p.add_argument("--context", choices=["bootstrap", "management"], default="bootstrap",
                       help="where the chart runs: the bootstrap cluster (default) or the management cluster")
        p.add_argument("-n", "--namespace", default="cluster-init", type=_namespace,
                       help="namespace of the chart's release and its units (default: cluster-init)")
    _pivot_parser(sub)
    return parser


def _pivot_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from pathlib import Path

    summary = ("Move the Cluster API objects (clusters, machines, their configs and secrets) from one management "
               "cluster to another, as `clusterctl move` does; resumable: after any interruption, run it again.")
    p = sub.add_parser(
        "pivot", help="Move Cluster API objects to another cluster (or back them up to / restore them from files).",
        description=summary, formatter_class=_formatter(),
        epilog="examples:\n"
               "  cluster-init pivot --from-kubeconfig bootstrap.kubeconfig --to-kubeconfig mgmt.kubeconfig\n"
               "  cluster-init pivot --to-kubeconfig mgmt.kubeconfig --namespace capi-clusters --dry-run -o json\n"
               "  cluster-init pivot --from-kubeconfig mgmt.kubeconfig --to-directory backup/\n"
               "  cluster-init pivot --from-directory backup/ --to-kubeconfig new-mgmt.kubeconfig\n\n"
               "exit codes: 0 done, 1 runtime failure (run again to resume), 2 bad input or a precondition refused\n"
               "(one line per problem: the object, why, what to do). Progress goes to stderr, the report to stdout.")
    _debug_flag(p)
    p.add_argument("--from-kubeconfig", type=Path, metavar="FILE",
                   help="kubeconfig of the source cluster (default: $KUBECONFIG, then ~/.kube/config)")
    p.add_argument("--from-context", metavar="NAME", help="context of the source kubeconfig (default: current)")
    p.add_argument("--to-kubeconfig", type=Path, metavar="FILE", help="kubeconfig of the target cluster")
    p.add_argument("--to-context", metavar="NAME", help="context of the target kubeconfig (default: current)")
    p.add_argument("-n", "--namespace", type=_namespace, help="move only this namespace (default: all namespaces)")
    p.add_argument("--dry-run", action="store_true", help="print what would move and change nothing")
    p.add_argument("--to-directory", type=Path, metavar="DIR",
                   help="back up the objects to YAML files in DIR instead of moving them (the source is unchanged)")
    p.add_argument("--from-directory", type=Path, metavar="DIR",
                   help="restore the objects of a backup in DIR to the target cluster")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text", help="report format (default: text)")
    p.add_argument("--block-move-timeout", type=_seconds, default=300.0, metavar="SECONDS",
                   help="how long to wait for clusterctl.cluster.x-k8s.io/block-move annotations to go (default: 300)")
    p.add_argument("--copy-status", action="store_true",
                   help="also copy each object's status (one more request per object); by default, as with clusterctl, "
                        "the controllers rebuild statuses once the target unpauses")
    p.add_argument("--max-in-flight", type=_count, default=32, metavar="N",
                   help="requests in flight per cluster (default: 32)")
    p.add_argument("--retry-timeout", type=_seconds, default=60.0, metavar="SECONDS",
                   help="how long one request retries transient errors before the run fails (default: 60)")


def _debug_flag(parser: argparse.ArgumentParser) -> None:
    """--debug is read from argv by the top-level handler (it must work even when parsing fails)."""
    import argparse

    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="on an unexpected error, print the full trace")


DNS_LABEL_MAX = 63
MAX_SECONDS = 7 * 24 * 3600.0
MAX_IN_FLIGHT = 1024


def _namespace(text: str) -> str:
    """A Kubernetes namespace: a DNS-1123 label, so nothing else can reach the generated YAML."""
    import argparse
    import re

    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", text) or len(text) > DNS_LABEL_MAX:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a namespace name; use a DNS-1123 label: "
                                         f"lowercase letters, digits and '-', at most {DNS_LABEL_MAX} characters")
    return text


def _seconds(text: str) -> float:
    """A duration in seconds: finite, not negative, at most a week (larger ones overflow timers)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not 0 <= value <= MAX_SECONDS:  # also false for NaN
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a number of seconds between 0 and {MAX_SECONDS:.0f}")
    return value


def _count(text: str) -> int:
    """A count of requests in flight: at least 1 (0 would wait forever)."""
    import argparse

    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_IN_FLIGHT:
        raise argparse.ArgumentTypeError(f"{_shown(text)} is not a whole number between 1 and {MAX_IN_FLIGHT}")
    return value


def _shown(text: str) -> str:
    from cluster_init.output import escape

    return f"`{escape(text[:80])}`"


OFFLINE_COMMANDS = ("validate", "plan", "render")


def entry() -> None:
    """The console script. After an offline command, skip the interpreter's tear-down.

    Those commands hold nothing that needs closing (their children are reaped, their output is
    flushed here), and freeing every object one by one costs `plan` 20 ms for memory the OS frees anyway.
    """
    import contextlib
    import os

    code = main()
    if sys.argv[1:2] and sys.argv[1] in OFFLINE_COMMANDS:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(BrokenPipeError):  # the reader went away (`| head`): not an error
                stream.flush()
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run one command; whatever happens, the user gets exit 0, 1 or 2 and at most one line per problem."""
    from cluster_init import output

    argv = sys.argv[1:] if argv is None else argv
    with output.scrubbed_streams():
        try:
            return _dispatch(argv)
        except BaseException as e:  # the one place that turns any failure into an exit code
            return _exit_code(e, debug="--debug" in argv)


def _dispatch(argv: list[str]) -> int:
    from cluster_init import speculation

    if argv[:1] and argv[0] in OFFLINE_COMMANDS:
        from cluster_init.paths import check_bundle_root

        check_bundle_root()
    target = speculation.guess(argv)
    early = speculation.Speculation(target) if target else None  # helm starts before argparse loads
    try:
        return _run(_parser().parse_args(argv), early)
    finally:
        if early is not None:
            early.cancel()


def _exit_code(error: BaseException, debug: bool) -> int:
    """Bad input: one line per problem, 2. Runtime failure: one line, 1. Anything unexpected: one line
    naming the file that holds the full trace (printed too with --debug), 1."""
    if isinstance(error, SystemExit):  # argparse: --help (0) or a usage error it has explained (2)
        return error.code if isinstance(error.code, int) else 2
    if isinstance(error, BrokenPipeError):  # the reader went away (`| head`): not an error
        return 0
    from cluster_init import output
    from cluster_init.errors import InputError, RuntimeFailure

    if isinstance(error, InputError):
        for problem in error.problems:
            output.problem("error", str(problem))
        return 2
    if isinstance(error, RuntimeFailure):
        output.problem("error", str(error))
        return 1
    if isinstance(error, KeyboardInterrupt):
        output.problem("error", "interrupted")
        return 130
    if debug:
        import traceback

        traceback.print_exception(error, file=sys.stderr)
    where = output.crash_report(error)
    summary = f"{type(error).__name__}: {str(error)[:200]}"
    hint = "" if debug else " (run again with --debug to see it)"
    output.problem("error", f"unexpected internal error ({summary}); the full trace is in {where}{hint}; "
                            "please report it")
    return 1


def _run(args: argparse.Namespace, early: Speculation | None) -> int:
    if args.command == "pivot":
        from cluster_init.pivot.command import run

        return run(args)
    if args.command == "plan":
        return _plan(args, early)
    if args.command == "validate":
        return _validate(args)
    return _render(args)


def _validate(args: argparse.Namespace) -> int:
    from cluster_init import environment, output
    from cluster_init.validation import validate

    env = environment.load(args.env_dir)
    for warning in validate(env, args.context):
        output.problem("warning", warning)
    print(f"{output.escape(str(env.directory))}: valid for the {args.context} context")
    return 0


def _plan(args: argparse.Namespace, early: Speculation | None) -> int:
    from cluster_init.speculation import Speculation, Target

    speculation, target = early, Target(str(args.env_dir), args.context, args.namespace)
    if speculation is None or speculation.target != target:  # argparse read the command line otherwise
        if speculation is not None:
            speculation.cancel()
        speculation = Speculation(target)
    try:
        from cluster_init import chart, environment, plan
        from cluster_init.errors import InputError
        from cluster_init.validation import placement_problems, semantic_problems, validate
        from cluster_init.values import merged

        env = environment.load(args.env_dir, speculation.build)
        if problems := placement_problems(env):
            raise InputError(problems)
        try:  # while helm still runs
            problems = semantic_problems(env, merged(env, args.context))
        except Exception:  # these checks expect schema-valid values: say what the schema says instead
            validate(env, args.context)
            raise
        rendered = speculation.output([env.values.text, env.secrets.text])
        # helm enforces the schema itself; on failure template() explains with our validator
        objects = plan.unit_documents(rendered) if rendered else chart.template(env, args.context, args.namespace)
        if problems:
            raise InputError(problems)
    finally:
        speculation.cancel()
    order = plan.apply_order(plan.units(objects, env.values.where))
    formats = {"json": plan.as_json, "yaml": plan.as_yaml, "dot": plan.as_dot}
    if args.output in formats:
        sys.stdout.write(formats[args.output](args.context, order) + ("\n" if args.output == "json" else ""))
    else:
        sys.stdout.write(plan.as_text(args.context, order, str(env.directory)))
    return 0


def _render(args: argparse.Namespace) -> int:
    from cluster_init import environment, render
    from cluster_init.validation import validate

    env = environment.load(args.env_dir)
    validate(env, args.context)
    sys.stdout.write(render.as_yaml(render.manifests(env, args.context, args.namespace)))
    return 0
