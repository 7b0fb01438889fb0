"""`cluster-init render ENV_DIR`: every manifest that would be applied, as one YAML stream, secrets masked."""

from __future__ import annotations

import sys

from cluster_init.commands import args as common

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

NAME, EXAMPLE = "render", "cluster-init render environment-values/rke2-capd --context management"
SUMMARY = "Print every manifest that would be applied, as one YAML stream (secrets masked)."
arguments = common.environment


def run(args: argparse.Namespace) -> int:
    from cluster_init import render

    env = common.valid_environment(args, warn=False)  # render's stderr stays quiet
    sys.stdout.write(render.as_yaml(render.manifests(env, args.context, args.namespace)))
    return 0
