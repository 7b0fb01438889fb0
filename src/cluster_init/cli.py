"""The cluster-init command line: wires the commands (`cluster_init.commands`, one module each) to argparse and
turns whatever happens into an exit code. Imports are deferred so `--help` starts fast."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable
EPILOG = """\
examples:
  cluster-init validate environment-values/kubeadm-capd
  cluster-init plan environment-values/rke2-capo --context management -o json
  cluster-init plan environment-values/kubeadm-capd -o dot | dot -Tsvg > units.svg
  cluster-init render environment-values/kubeadm-capd > bootstrap.yaml
  cluster-init bootstrap environment-values/kubeadm-capd
  cluster-init watch -o json
  cluster-init images environment-values/kubeadm-capd --context bootstrap -o json
  cluster-init mirror environment-values/kubeadm-capd --to registry.example:5000/mirror > mirror-values.yaml
  cluster-init pivot --from-kubeconfig bootstrap.kubeconfig --to-kubeconfig mgmt.kubeconfig --dry-run
  cluster-init cleanup environment-values/kubeadm-capo --apply

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

    from cluster_init.commands import NAMES, args, command

    parser = argparse.ArgumentParser(
        prog="cluster-init",
        description="Bootstrap a self-managed Cluster API management cluster with Flux. These commands "
                    "check an environment folder (values.yaml + secrets.yaml) before any cluster is touched.",
        epilog=EPILOG, formatter_class=_formatter())
    args.debug_flag(parser)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in map(command, NAMES):
        p = sub.add_parser(module.NAME, help=module.SUMMARY, formatter_class=_formatter(),
                           description=getattr(module, "DESCRIPTION", module.SUMMARY),
                           epilog=getattr(module, "EPILOG", None) or f"example:\n  {module.EXAMPLE}")
        module.arguments(p)
        args.debug_flag(p)
    return parser


def entry() -> None:
    """The console script. After an offline command, skip the interpreter's tear-down.

    Those commands hold nothing that needs closing (their children are reaped, their output is
    flushed here), and freeing every object one by one costs `plan` 20 ms for memory the OS frees anyway.
    """
    import contextlib
    import os

    from cluster_init.commands import OFFLINE

    code = main()
    if sys.argv[1:2] and sys.argv[1] in OFFLINE:
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
    from cluster_init.commands import OFFLINE, command, plan

    if argv[:1] and argv[0] in OFFLINE:
        from cluster_init.paths import check_bundle_root

        check_bundle_root()
    plan.start_early(argv)  # helm starts on a plain `plan` command line before argparse loads
    try:
        args = _parser().parse_args(argv)
        code: int = command(args.command).run(args)
        return code
    finally:
        plan.cancel_early()


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
