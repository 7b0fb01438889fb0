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
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, example: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, description=summary, epilog=f"example:\n  {example}",
                           formatter_class=_formatter())
        p.add_argument("env_dir", metavar="ENV_DIR", type=Path,
                       help="environment folder, e.g. environment-values/kubeadm-capd")
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
        p.add_argument("-n", "--namespace", default="cluster-init",
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
    p.add_argument("--from-kubeconfig", type=Path, metavar="FILE",
                   help="kubeconfig of the source cluster (default: $KUBECONFIG, then ~/.kube/config)")
    p.add_argument("--from-context", metavar="NAME", help="context of the source kubeconfig (default: current)")
    p.add_argument("--to-kubeconfig", type=Path, metavar="FILE", help="kubeconfig of the target cluster")
    p.add_argument("--to-context", metavar="NAME", help="context of the target kubeconfig (default: current)")
    p.add_argument("-n", "--namespace", help="move only this namespace (default: all namespaces)")
    p.add_argument("--dry-run", action="store_true", help="print what would move and change nothing")
    p.add_argument("--to-directory", type=Path, metavar="DIR",
                   help="back up the objects to YAML files in DIR instead of moving them (the source is unchanged)")
    p.add_argument("--from-directory", type=Path, metavar="DIR",
                   help="restore the objects of a backup in DIR to the target cluster")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text", help="report format (default: text)")
    p.add_argument("--block-move-timeout", type=float, default=300.0, metavar="SECONDS",
                   help="how long to wait for clusterctl.cluster.x-k8s.io/block-move annotations to go (default: 300)")
    p.add_argument("--copy-status", action="store_true",
                   help="also copy each object's status (one more request per object); by default, as with clusterctl, "
                        "the controllers rebuild statuses once the target unpauses")
    p.add_argument("--max-in-flight", type=int, default=32, metavar="N",
                   help="requests in flight per cluster (default: 32)")
    p.add_argument("--retry-timeout", type=float, default=60.0, metavar="SECONDS",
                   help="how long one request retries transient errors before the run fails (default: 60)")


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
    from cluster_init import speculation

    argv = sys.argv[1:] if argv is None else argv
    target = speculation.guess(argv)
    early = speculation.Speculation(target) if target else None  # helm starts before argparse loads
    try:
        args = _parser().parse_args(argv)
        return _main(args, early)
    finally:
        if early is not None:
            early.cancel()


def _main(args: argparse.Namespace, early: Speculation | None) -> int:
    from cluster_init.errors import InputError, RuntimeFailure

    try:
        return _run(args, early)
    except InputError as e:
        for problem in e.problems:
            print(f"error: {problem}", file=sys.stderr)
        return 2
    except RuntimeFailure as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 0


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
    from cluster_init import environment
    from cluster_init.validation import validate

    env = environment.load(args.env_dir)
    for warning in validate(env, args.context):
        print(f"warning: {warning}", file=sys.stderr)
    print(f"{env.directory}: valid for the {args.context} context")
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
        from cluster_init.validation import placement_problems, semantic_problems
        from cluster_init.values import merged

        env = environment.load(args.env_dir, speculation.build)
        if problems := placement_problems(env):
            raise InputError(problems)
        try:  # while helm still runs; values that break the schema are helm's to report, below
            problems = semantic_problems(env, merged(env, args.context))
        except (KeyError, TypeError, ValueError):
            problems = []
        rendered = speculation.output([env.values.text, env.secrets.text])
        # helm enforces the schema itself; on failure template() explains with our validator
        objects = plan.unit_documents(rendered) if rendered else chart.template(env, args.context, args.namespace)
        if problems:
            raise InputError(problems)
    finally:
        speculation.cancel()
    order = plan.apply_order(plan.units(objects))
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
