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
    from collections.abc import Mapping
    from pathlib import Path

    from cluster_init.kube import Client, KubeConfig, RetryPolicy
    from cluster_init.pivot.engine import BeforeCopy, Observer, Options, Report, Step
    from cluster_init.pivot.graph import Plan
    from cluster_init.pivot.job import JobPhases

NAME = "pivot"
SUMMARY = "Move Cluster API objects to another cluster (or back them up to / restore them from files)."
DESCRIPTION = ("Move the Cluster API objects (clusters, machines, their configs and secrets) from one management "
               "cluster to another, as `clusterctl move` does; resumable: after any interruption, run it again.")
EPILOG = ("examples:\n"
          "  cluster-init pivot --from-kubeconfig bootstrap.kubeconfig --to-kubeconfig mgmt.kubeconfig\n"
          "  cluster-init pivot --to-kubeconfig mgmt.kubeconfig --namespace capi-clusters --dry-run -o json\n"
          "  cluster-init pivot --from-kubeconfig mgmt.kubeconfig --to-directory backup/\n"
          "  cluster-init pivot --from-directory backup/ --to-kubeconfig new-mgmt.kubeconfig\n"
          "  # in a pod (the bundle's pivot Job): the pod's service account is the source\n"
          "  cluster-init pivot -n cluster-init --to-kubeconfig-secret mgmt-kubeconfig --backup-secret pivot-backup\n\n"
          "backup Secret: data key backup.tar.gz is the --to-directory backup; to restore it:\n"
          "  kubectl -n NS get secret NAME -o jsonpath='{.data.backup\\.tar\\.gz}' | base64 -d | tar -xz -C backup/\n"
          "  cluster-init pivot --from-directory backup/ --to-kubeconfig mgmt.kubeconfig\n\n"
          "exit codes: 0 done, 1 runtime failure (run again to resume), 2 bad input or a precondition refused\n"
          "(one line per problem: the object, why, what to do). Progress goes to stderr, the report to stdout.")


def arguments(p: argparse.ArgumentParser) -> None:
    from pathlib import Path

    p.add_argument("--from-kubeconfig", type=Path, metavar="FILE",
                   help="kubeconfig of the source cluster (default: $KUBECONFIG, then ~/.kube/config, then, in a pod, "
                        "its service account)")
    p.add_argument("--from-context", metavar="NAME", help="context of the source kubeconfig (default: current)")
    p.add_argument("--to-kubeconfig", type=Path, metavar="FILE", help="kubeconfig of the target cluster")
    p.add_argument("--to-context", metavar="NAME", help="context of the target kubeconfig (default: current)")
    p.add_argument("--to-kubeconfig-secret", type=common.name, metavar="NAME",
                   help="read the target's kubeconfig from this Secret (key `value`, as Cluster API writes it) in "
                        "--namespace of the source; once moved, from the --backup-secret backup. The Flux "
                        "Kustomizations there that use this Secret are suspended before the copy")
    p.add_argument("--backup-secret", type=common.name, metavar="NAME",
                   help="before copying anything, store the objects to move as a Secret in --namespace of the source "
                        "(key backup.tar.gz: the --to-directory files; at most 1 MiB compressed, else the move is "
                        "refused); a resumed move keeps the first run's backup")
    p.add_argument("--report-job", type=common.name, metavar="NAME",
                   help="write the move's phase as an annotation of this Job in --namespace of the source (the "
                        "bundle's pivot Job names itself, so that `cluster-init watch` shows the phase)")
    p.add_argument("--suspend-kustomization", type=common.name, metavar="NAME",
                   help="suspend this Flux Kustomization in --namespace of the source before copying, so that the "
                        "source's Flux does not create again what moves away")
    p.add_argument("--mark-pivoted", type=common.name, metavar="NAME",
                   help="after a successful move, write ConfigMap NAME in --namespace of the target with the values "
                        "`pivoted: true` (what the management cluster's release reads)")
    p.add_argument("-n", "--namespace", type=common.namespace,
                   help="move only this namespace (default: all namespaces)")
    p.add_argument("--dry-run", action="store_true", help="print what would move and change nothing")
    p.add_argument("--to-directory", type=Path, metavar="DIR",
                   help="back up the objects to YAML files in DIR instead of moving them (the source is unchanged)")
    p.add_argument("--from-directory", type=Path, metavar="DIR",
                   help="restore the objects of a backup in DIR to the target cluster")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text", help="report format (default: text)")
    p.add_argument("--wait-for-providers", type=common.seconds, default=0.0, metavar="SECONDS",
                   help="first wait up to SECONDS until the target runs every provider the source runs (their "
                        "controllers' Deployments Available), as a move into starting providers would fail half-way "
                        "(default: 0, no wait)")
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
    if mode in ("move", "restore") and not args.to_kubeconfig and not args.to_kubeconfig_secret:
        problems.append(Problem("--to-kubeconfig", "", "is required", "give the kubeconfig of the target cluster"))
    problems += _check_job_args(args, mode)
    if args.wait_for_providers and mode != "move":
        problems.append(Problem("--wait-for-providers", "", "only goes with a move",
                                "drop it, or drop --to-directory / --from-directory"))
    if mode == "backup" and args.to_kubeconfig:
        problems.append(Problem("--to-kubeconfig", "", "makes no sense with --to-directory",
                                "back up to a directory, or move to a cluster"))
    if mode == "restore" and (args.from_kubeconfig or args.from_context or args.namespace):
        problems.append(Problem("--from-directory", "", "restores everything in the directory, from no cluster",
                                "drop --from-kubeconfig, --from-context and --namespace"))
    if mode == "backup":
        problems += backup.check_directory(args.to_directory)
    return problems


JOB_FLAGS = ("to_kubeconfig_secret", "backup_secret", "suspend_kustomization", "mark_pivoted")


def _check_job_args(args: argparse.Namespace, mode: str) -> list[Problem]:
    """The in-cluster flags (see cluster_init.pivot.job): a move of one namespace only."""
    given = [f"--{f.replace('_', '-')}" for f in JOB_FLAGS if getattr(args, f, None)]
    problems = []
    if given and mode != "move":
        problems.append(Problem(", ".join(given), "", "only go with a move",
                                "drop them, or drop --to-directory / --from-directory"))
    elif given and not args.namespace:
        problems.append(Problem(", ".join(given), "", "need --namespace (where the Secrets and ConfigMap live)",
                                "give --namespace"))
    if args.to_kubeconfig_secret and (args.to_kubeconfig or args.to_context):
        problems.append(Problem("--to-kubeconfig-secret", "", "is exclusive with --to-kubeconfig and --to-context",
                                "give the target's kubeconfig one way"))
    return problems


def run(args: argparse.Namespace) -> int:
    """Run the pivot command; InputError (exit 2) and RuntimeFailure (exit 1) are left to the CLI."""
    import asyncio

    from cluster_init.kube import ApiError, KubeconfigError, Unreachable
    from cluster_init.pivot import lock, providers, report
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
    except providers.NotReady as e:
        raise RuntimeFailure(f"pivot not started: {e}") from None
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
    to_cfg = await _target_config(args, from_cfg, retry)
    if to_cfg.server == from_cfg.server:
        raise InputError([Problem("--to-kubeconfig", "", f"names the same API server as the source ({to_cfg.server})",
                                  "give the kubeconfig of the target cluster")])
    async with Client(from_cfg, max_in_flight=args.max_in_flight, retry=retry) as source, \
            Client(to_cfg, max_in_flight=args.max_in_flight, retry=retry) as target, _locked(from_cfg, options, retry):
        from cluster_init.pivot import job
        from cluster_init.unitstate import PIVOT_DONE

        phases = job.JobPhases(source, args.namespace, args.report_job) if args.report_job else None
        if args.wait_for_providers and not options.dry_run:
            await _wait_for_providers(source, target, args.wait_for_providers, phases)
        result = await Engine(source, target, options, _both(progress, phases)).move(_before_copy(args, source, phases))
        if args.mark_pivoted and not options.dry_run:
            if phases:
                phases.say("mark pivoted")
            await job.mark_pivoted(target, args.namespace, args.mark_pivoted)
            print(f"pivot: marked the target pivoted (ConfigMap {args.namespace}/{args.mark_pivoted})", file=sys.stderr)
        if phases:
            phases.say(PIVOT_DONE)
            await phases.flush()
        return result


async def _wait_for_providers(source: Client, target: Client, timeout: float, phases: JobPhases | None) -> None:
    """Until the target runs the source's providers, one progress line (and Job phase) per change of what lacks."""
    from cluster_init.pivot import providers

    def say(message: str) -> None:
        print(f"pivot: {message}", file=sys.stderr)
        if phases:
            phases.say(message)

    await providers.wait(source, target, timeout, say)


async def _target_config(args: argparse.Namespace, from_cfg: KubeConfig, retry: RetryPolicy) -> KubeConfig:
    """The target's config: a kubeconfig file, or (in-cluster) the Secret Cluster API wrote in the source."""
    if not args.to_kubeconfig_secret:
        return _config(args.to_kubeconfig, args.to_context, "--to-kubeconfig")
    from cluster_init.kube import Client
    from cluster_init.pivot import job

    async with Client(from_cfg, retry=retry) as source:
        text = await job.target_kubeconfig(source, args.namespace, args.to_kubeconfig_secret, args.backup_secret)
    return job.load_kubeconfig(text, f"Secret {args.namespace}/{args.to_kubeconfig_secret}")


def _both(progress: Observer, phases: JobPhases | None) -> Observer:
    """The progress lines, and the phases on the Job when it reports them."""
    if phases is None:
        return progress

    def observe(step: Step) -> None:
        progress(step)
        phases(step)

    return observe


def _before_copy(args: argparse.Namespace, source: Client, phases: JobPhases | None) -> BeforeCopy | None:
    """The backup and the suspension of the source's Flux Kustomizations (the one named, those that use the
    target's kubeconfig Secret), once everything is paused and checked."""
    if not args.backup_secret and not args.suspend_kustomization and not args.to_kubeconfig_secret:
        return None
    from cluster_init.pivot import job

    async def before(plan: Plan, state: Mapping[str, str]) -> None:
        if args.backup_secret:
            if phases:
                phases.say("backup")
            said = await job.store_backup(source, plan, state, args.namespace, args.backup_secret)
            print(f"pivot: {said}", file=sys.stderr)
        if args.suspend_kustomization and await job.suspend(source, job.KUSTOMIZATION, args.namespace,
                                                            args.suspend_kustomization):
            print(f"pivot: suspended Kustomization {args.namespace}/{args.suspend_kustomization}", file=sys.stderr)
        if args.to_kubeconfig_secret:
            names = await job.suspend_flux_objects_through(source, args.namespace, args.to_kubeconfig_secret)
            if names:
                print(f"pivot: suspended {', '.join(names)} (they reach the target through Secret "
                      f"{args.namespace}/{args.to_kubeconfig_secret}, which moves)", file=sys.stderr)

    return before


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
