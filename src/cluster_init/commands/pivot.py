"""`cluster-init pivot`: arguments to an engine run, errors to exit codes, report to stdout.

The engine, the kube client and asyncio are imported when the command runs, not for `--help`.
"""

from __future__ import annotations

import sys

from cluster_init.commands import args as common
from cluster_init.errors import InputError, Problem, RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    import contextlib
    from pathlib import Path

    from cluster_init.kube import KubeConfig, RetryPolicy
    from cluster_init.pivot.engine import Options, Report
    from cluster_init.pivot.graph import Plan

NAME = "pivot"
SUMMARY = "Move Cluster API objects to another cluster (or back them up to / restore them from files)."
DESCRIPTION = ("Move the Cluster API objects (clusters, machines, their configs and secrets) from one management "
               "cluster to another, as `clusterctl move` does; resumable: after any interruption, run it again.")
EPILOG = ("examples:\n"
          "  cluster-init pivot --from-kubeconfig bootstrap.kubeconfig --to-kubeconfig mgmt.kubeconfig\n"
          "  cluster-init pivot --to-kubeconfig mgmt.kubeconfig --namespace capi-clusters --dry-run -o json\n"
          "  cluster-init pivot --from-kubeconfig mgmt.kubeconfig --to-directory backup/\n"
          "  cluster-init pivot --from-directory backup/ --to-kubeconfig new-mgmt.kubeconfig\n\n"
          "exit codes: 0 done, 1 runtime failure (run again to resume), 2 bad input or a precondition refused\n"
          "(one line per problem: the object, why, what to do). Progress goes to stderr, the report to stdout.")


def arguments(p: argparse.ArgumentParser) -> None:
    from pathlib import Path

    p.add_argument("--from-kubeconfig", type=Path, metavar="FILE",
                   help="kubeconfig of the source cluster (default: $KUBECONFIG, then ~/.kube/config)")
    p.add_argument("--from-context", metavar="NAME", help="context of the source kubeconfig (default: current)")
    p.add_argument("--to-kubeconfig", type=Path, metavar="FILE", help="kubeconfig of the target cluster")
    p.add_argument("--to-context", metavar="NAME", help="context of the target kubeconfig (default: current)")
    p.add_argument("-n", "--namespace", type=common.namespace,
                   help="move only this namespace (default: all namespaces)")
    p.add_argument("--dry-run", action="store_true", help="print what would move and change nothing")
    p.add_argument("--to-directory", type=Path, metavar="DIR",
                   help="back up the objects to YAML files in DIR instead of moving them (the source is unchanged)")
    p.add_argument("--from-directory", type=Path, metavar="DIR",
                   help="restore the objects of a backup in DIR to the target cluster")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text", help="report format (default: text)")
    p.add_argument("--block-move-timeout", type=common.seconds, default=300.0, metavar="SECONDS",
                   help="how long to wait for clusterctl.cluster.x-k8s.io/block-move annotations to go (default: 300)")
    p.add_argument("--copy-status", action="store_true",
                   help="also copy each object's status (one more request per object); by default, as with clusterctl, "
                        "the controllers rebuild statuses once the target unpauses")
    p.add_argument("--max-in-flight", type=common.count, default=32, metavar="N",
                   help="requests in flight per cluster (default: 32)")
    p.add_argument("--retry-timeout", type=common.seconds, default=60.0, metavar="SECONDS",
                   help="how long one request retries transient errors before the run fails (default: 60)")


def mode_of(args: argparse.Namespace) -> str:
    return "backup" if args.to_directory else "restore" if args.from_directory else "move"


def _config(path: Path | None, context: str | None, flag: str) -> KubeConfig:
    from cluster_init.kube import KubeConfig, KubeconfigError

    try:
        return KubeConfig.load(path, context)
    except KubeconfigError as e:
        raise InputError([Problem(flag, "", str(e), "give a kubeconfig with a usable context")]) from None


def check_args(args: argparse.Namespace) -> list[Problem]:
    from cluster_init.pivot import backup

    mode = mode_of(args)
    problems = []
    if args.to_directory and args.from_directory:
        problems.append(Problem("--to-directory/--from-directory", "", "are exclusive",
                                "back up (--to-directory) or restore (--from-directory), not both"))
    if mode in ("move", "restore") and not args.to_kubeconfig:
        problems.append(Problem("--to-kubeconfig", "", "is required", "give the kubeconfig of the target cluster"))
    if mode == "backup" and args.to_kubeconfig:
        problems.append(Problem("--to-kubeconfig", "", "makes no sense with --to-directory",
                                "back up to a directory, or move to a cluster"))
    if mode == "restore" and (args.from_kubeconfig or args.from_context or args.namespace):
        problems.append(Problem("--from-directory", "", "restores everything in the directory, from no cluster",
                                "drop --from-kubeconfig, --from-context and --namespace"))
    if mode == "backup":
        problems += backup.check_directory(args.to_directory)
    return problems


def run(args: argparse.Namespace) -> int:
    """Run the pivot command; InputError (exit 2) and RuntimeFailure (exit 1) are left to the CLI."""
    import asyncio

    from cluster_init.kube import ApiError, KubeconfigError, Unreachable
    from cluster_init.pivot import lock, report
    from cluster_init.pivot.engine import Failed, Refused

    if problems := check_args(args):
        raise InputError(problems)
    mode = mode_of(args)
    try:
        result = asyncio.run(_run(mode, args))
    except Refused as e:
        raise InputError(capped(e.problems)) from None
    except Failed as e:
        raise RuntimeFailure(f"pivot failed: {e}\nrun the same command again to resume it") from None
    except lock.Busy as e:
        raise RuntimeFailure(f"pivot not started: {e}") from None
    except lock.Lost as e:
        raise RuntimeFailure(f"pivot stopped: {e}\nrun the same command again to resume it") from None
    except Unreachable as e:  # a wrong address or a cluster that is not running: nothing was started
        raise RuntimeFailure(f"pivot not started: cannot reach {e.server}: {e.why}") from None
    except KubeconfigError as e:  # an exec plugin that failed, certificate data that is not PEM
        raise InputError([Problem("kubeconfig", "", str(e), "fix the kubeconfig")]) from None
    except ApiError as e:
        raise RuntimeFailure(f"pivot failed: {e}\nrun the same command again to resume it") from None
    except KeyboardInterrupt:
        raise RuntimeFailure("pivot interrupted; run the same command again to resume it") from None
    render = report.as_json if args.output == "json" else report.as_text
    sys.stdout.write(render(result, mode) + ("\n" if args.output == "json" else ""))
    if result.problems:
        for problem in capped(result.problems):
            print(f"error: {problem}", file=sys.stderr)
        return 2
    return 0


async def _run(mode: str, args: argparse.Namespace) -> Report:
    from cluster_init.kube import Client, RetryPolicy
    from cluster_init.pivot import backup, report
    from cluster_init.pivot.engine import Engine, Options

    options = Options(namespace=args.namespace, dry_run=args.dry_run, block_move_timeout=args.block_move_timeout,
                      copy_status=args.copy_status)
    progress = report.Progress()
    retry = RetryPolicy(deadline=args.retry_timeout)
    if mode == "restore":
        objects, problems = backup.read(args.from_directory)
        if problems:
            raise InputError(problems)
        to_cfg = _config(args.to_kubeconfig, args.to_context, "--to-kubeconfig")
        async with Client(to_cfg, max_in_flight=args.max_in_flight, retry=retry) as target, \
                _locked(to_cfg, options, retry):
            return await Engine(None, target, options, progress, objects=objects).restore()
    from_cfg = _config(args.from_kubeconfig, args.from_context, "--from-kubeconfig")
    if mode == "backup":
        directory: Path = args.to_directory
        async with Client(from_cfg, max_in_flight=args.max_in_flight, retry=retry) as source, \
                _locked(from_cfg, options, retry):
            return await Engine(source, None, options, progress).backup(lambda plan: _write(plan, directory))
    to_cfg = _config(args.to_kubeconfig, args.to_context, "--to-kubeconfig")
    if to_cfg.server == from_cfg.server:
        raise InputError([Problem("--to-kubeconfig", "", f"names the same API server as the source ({to_cfg.server})",
                                  "give the kubeconfig of the target cluster")])
    async with Client(from_cfg, max_in_flight=args.max_in_flight, retry=retry) as source, \
            Client(to_cfg, max_in_flight=args.max_in_flight, retry=retry) as target, _locked(from_cfg, options, retry):
        return await Engine(source, target, options, progress).move()


def _locked(config: KubeConfig, options: Options, retry: RetryPolicy) -> contextlib.AbstractAsyncContextManager[None]:
    """The pivot lock of the cluster written first; a dry run writes nothing and takes no lock."""
    import contextlib

    from cluster_init.pivot import lock

    return contextlib.nullcontext() if options.dry_run else lock.held(config, retry=retry)


def capped(problems: list[Problem], limit: int = 20) -> list[Problem]:
    """At most `limit` lines, and one saying how many more there are."""
    if len(problems) <= limit:
        return problems
    return [*problems[:limit], Problem(f"... and {len(problems) - limit} more problems", "", "of the kinds above",
                                       "fix those first; --dry-run lists every object")]


def _write(plan: Plan, directory: Path) -> None:
    from cluster_init.pivot import backup

    count = backup.write(plan, directory)
    print(f"pivot: wrote {count} files to {directory}", file=sys.stderr)
