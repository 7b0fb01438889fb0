"""`cluster-init images ENV_DIR`: every image, chart and Flux source the environment needs, with the units that
need them, derived from the rendered bundle and the pinned upstream manifests (see `cluster_init.images`)."""

from __future__ import annotations

import sys

from cluster_init.commands import args as common

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from cluster_init.images import Artifact

NAME = "images"
SUMMARY = "List every image, chart and Flux source the environment needs, and which unit needs it."
EXAMPLE = "cluster-init images environment-values/kubeadm-capd --context management -o json"
CONTEXTS = ("bootstrap", "management")


def arguments(parser: argparse.ArgumentParser) -> None:
    common.environment(parser, context=False)
    parser.add_argument("--context", choices=[*CONTEXTS, "all"], default="all",
                        help="what the bootstrap cluster runs, what the management cluster runs, or both (default)")
    parser.add_argument("-n", "--namespace", default="cluster-init", type=common.namespace,
                        help="namespace of the chart's release and its units (default: cluster-init)")
    parser.add_argument("-o", "--output", choices=["text", "json"], default="text",
                        help="text (a table per kind, default) or json (a list of objects) for scripts")


def run(args: argparse.Namespace) -> int:
    from cluster_init import environment, images
    from cluster_init.validation import validate

    env = environment.load(args.env_dir)
    for context in CONTEXTS:  # both renderings are read: units of one context run on the other cluster
        validate(env, context)  # placeholders are no concern of a list of images: no warnings
    contexts = CONTEXTS if args.context == "all" else (args.context,)
    found = images.bill_of_materials(env, contexts, args.namespace)
    sys.stdout.write(as_json(found) if args.output == "json" else as_text(found))
    return 0


def as_json(found: list[Artifact]) -> str:
    import dataclasses
    import json

    return json.dumps([dataclasses.asdict(a) for a in found], indent=2) + "\n"


def as_text(found: list[Artifact]) -> str:
    """One table per kind: reference, contexts, units. `cli` is what `cluster-init bootstrap` installs itself."""
    lines: list[str] = []
    for kind, title in (("image", "IMAGES"), ("chart", "CHARTS"), ("source", "SOURCES")):
        rows = [(a.ref, ",".join(a.contexts), ", ".join(a.units)) for a in found if a.kind == kind]
        if not rows:
            continue
        width = [max(len(r[i]) for r in rows) for i in range(2)]
        lines += [*([""] if lines else []), f"{title} ({len(rows)})"]
        lines += [f"  {ref:<{width[0]}}  {ctx:<{width[1]}}  {units}" for ref, ctx, units in rows]
    return "\n".join(lines) + "\n"
