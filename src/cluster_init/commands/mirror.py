"""`cluster-init mirror ENV_DIR --to REGISTRY`: copy the environment's images, charts and sources into a registry,
then print the values that point the chart at it."""

from __future__ import annotations

import sys

from cluster_init.commands import args as common

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse
    from typing import Any

    from cluster_init.environment import Environment
    from cluster_init.mirror import Result

NAME = "mirror"
SUMMARY = "Copy every image, chart and Flux source the environment needs into a registry (air-gapped installs)."
EXAMPLE = "cluster-init mirror environment-values/kubeadm-capd --to registry.example:5000/mirror"
DESCRIPTION = f"""{SUMMARY}

Images keep their upstream names under REGISTRY (ghcr.io/fluxcd/source-controller:v1.9.5 goes to
REGISTRY/ghcr.io/fluxcd/source-controller:v1.9.5, as containerd mirrors lay them out); Flux sources go to
REGISTRY/sources/<upstream>:<version> as Flux OCI artifacts (git ones are re-published from the pinned tree),
Helm charts to REGISTRY/charts/<chart>:<version>. What REGISTRY already holds with the same digest is skipped,
so an interrupted run can simply be run again. Credentials come from your docker config (`docker login`).
At the end, the `upstreams:` values to add to the environment's values.yaml are printed on stdout."""
EPILOG = f"""examples:
  {EXAMPLE}
  cluster-init mirror environment-values/kubeadm-capd --from mirror-a.example --to mirror-b.example --insecure

exit codes: 0 everything is in REGISTRY, 1 an artifact could not be mirrored (named on its line; run again
once fixed), 2 bad input (nothing copied)."""


def arguments(parser: argparse.ArgumentParser) -> None:
    common.environment(parser, context=False)
    parser.add_argument("--to", required=True, metavar="REGISTRY",
                        help="target registry, host[:port][/path], e.g. registry.example:5000/mirror")
    parser.add_argument("--from", dest="source", metavar="REGISTRY",
                        help="read everything from this registry instead of upstream (it mirrors upstream "
                             "registries by path, as REGISTRY will: a chain of air-gapped mirrors)")
    parser.add_argument("--context", choices=["bootstrap", "management"], action="append",
                        help="only what this context needs (repeatable; default: both)")
    parser.add_argument("--insecure", action="store_true",
                        help="allow plain HTTP (and unverified TLS) to the registries")
    parser.add_argument("-o", "--output", choices=["text", "json"], default="text",
                        help="text (the values snippet, default) or json (every artifact and the values)")


def run(args: argparse.Namespace) -> int:
    from cluster_init import environment, images, mirror, output
    from cluster_init.validation import validate

    _check_registries(args)
    contexts = tuple(dict.fromkeys(args.context or images.CONTEXTS))
    env = environment.load(args.env_dir)
    for warning in dict.fromkeys(w for context in contexts for w in validate(env, context)):
        output.problem("warning", warning)
    upstreams = _upstreams(env, contexts[0])
    plan, notes = mirror.steps(images.bill_of_materials(env, contexts), upstreams, args.to, args.source)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    results = mirror.run(plan, args.insecure, mirror.progress_line(len(plan)))
    _report(args, results, mirror.values(results, upstreams, args.to, args.insecure))
    return _exit(results)


def _check_registries(args: argparse.Namespace) -> None:
    """Both registry references well formed, before anything is read or copied (exit 2 otherwise)."""
    from cluster_init.errors import InputError, Problem
    from cluster_init.mirror import registry_problem

    problems = [Problem(flag, "", *wrong) for flag, text in (("--to", args.to), ("--from", args.source))
                if text is not None and (wrong := registry_problem(text))]
    if problems:
        raise InputError(problems)


def _upstreams(env: Environment, context: str) -> dict[str, dict[str, Any]]:
    """The pinned upstreams with the environment's `upstreams` overrides, as the chart merges them."""
    from cluster_init import pins, values

    overrides = values.merged(env, context).get("upstreams") or {}
    return values.coalesce(pins.pins()["upstreams"], overrides)


def _report(args: argparse.Namespace, done: list[Result], snippet: dict[str, Any]) -> None:
    import json

    from cluster_init import mirror, yamlfile

    if args.output == "json":
        rows = [{"kind": r.step.artifact.kind, "ref": r.step.artifact.ref, "target": r.step.target,
                 "action": r.action, "digest": r.digest, "seconds": round(r.seconds, 2),
                 **({"error": r.error} if r.error else {})} for r in done]
        sys.stdout.write(json.dumps({"registry": args.to, "artifacts": rows, "values": snippet}, indent=2) + "\n")
        return
    counts = {a: sum(r.action == a for r in done) for a in ("copied", "pushed", "skipped", "failed")}
    print(", ".join(f"{n} {a}" for a, n in counts.items() if n) or "nothing to mirror", file=sys.stderr)
    if counts["failed"]:
        return  # no values pointing at an incomplete mirror
    sys.stdout.write(f"# Add to {args.env_dir}/values.yaml to install from {args.to}:\n")
    sys.stdout.write(yamlfile.dump_one(snippet))
    if others := mirror.not_redirected(done, snippet, args.to):
        sys.stdout.write("# No value redirects these; point the registry mirrors of your container runtimes "
                         f"(containerd's hosts.toml) at {args.to}/<registry host>:\n")
        sys.stdout.write("".join(f"#   {ref}\n" for ref in others))


def _exit(results: list[Result]) -> int:
    from cluster_init.errors import RuntimeFailure

    failed = [r for r in results if r.action == "failed"]
    if failed:
        first = failed[0]
        raise RuntimeFailure(f"{len(failed)} of {len(results)} artifacts not mirrored (first: "
                             f"{first.step.artifact.kind} {first.step.artifact.ref}, see its line above); fix that "
                             "and run the same command again: what is already there is skipped")
    return 0
