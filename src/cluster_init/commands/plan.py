"""`cluster-init plan ENV_DIR`: the units that would be applied, in apply order, with their dependencies.

plan waits mostly for `helm template`, so helm is started before the command line is parsed
(`early_render`), from a guess of it: `start_early` is called by the CLI first thing, and `run` uses that
render only if argparse read the command line the same way.
"""

from __future__ import annotations

import sys

from cluster_init import early_render
from cluster_init.commands import args as common

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

NAME = "plan"
SUMMARY = "List the units that would be applied, in apply order, with their dependencies."
EXAMPLE = "cluster-init plan environment-values/kubeadm-capd --context management -o json"

_early: list[early_render.EarlyRender] = []  # the render started from argv, until run() takes it


def start_early(argv: list[str]) -> None:
    """Start helm on the guessed target of a `plan` command line (nothing for other command lines)."""
    target = early_render.guess(argv)
    if target is not None:
        _early.append(early_render.EarlyRender(target))


def cancel_early() -> None:
    while _early:
        _early.pop().cancel()


def arguments(parser: argparse.ArgumentParser) -> None:
    common.environment(parser)
    parser.add_argument("-o", "--output", choices=["text", "json", "yaml", "dot"], default="text",
                        help="text (a tree, default), json or yaml for scripts, dot for Graphviz")


def run(args: argparse.Namespace) -> int:
    target = early_render.Target(str(args.env_dir), args.context, args.namespace)
    early = _early.pop() if _early else None
    if early is None or early.target != target:  # argparse read the command line otherwise
        if early is not None:
            early.cancel()
        early = early_render.EarlyRender(target)
    try:
        from cluster_init import environment, helm, plan
        from cluster_init.errors import InputError
        from cluster_init.validation import placement_problems, semantic_problems, validate
        from cluster_init.values import merged

        env = environment.load(args.env_dir, early.build)
        if problems := placement_problems(env):
            raise InputError(problems)
        try:  # while helm still runs
            problems = semantic_problems(env, merged(env, args.context))
        except Exception:  # these checks expect schema-valid values: say what the schema says instead
            validate(env, args.context)
            raise
        rendered = early.output([env.values.text, env.secrets.text])
        # helm enforces the schema itself; on failure template() explains with our validator
        objects = plan.unit_documents(rendered) if rendered else helm.template(env, args.context, args.namespace)
        if problems:
            raise InputError(problems)
    finally:
        early.cancel()
    order = plan.apply_order(plan.units(objects, env.values.where))
    formats = {"json": plan.as_json, "yaml": plan.as_yaml, "dot": plan.as_dot}
    if args.output in formats:
        sys.stdout.write(formats[args.output](args.context, order) + ("\n" if args.output == "json" else ""))
    else:
        sys.stdout.write(plan.as_text(args.context, order, str(env.directory)))
    return 0
