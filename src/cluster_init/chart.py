"""Rendering the chart with the real helm, exactly as the HelmRelease would in each context."""

from __future__ import annotations

import json
from typing import Any

from cluster_init import tools, yamlfile
from cluster_init.environment import Environment
from cluster_init.errors import InputError, Problem, RuntimeFailure
from cluster_init.paths import chart_dir, display
from cluster_init.speculation import helm_args
from cluster_init.values import user_values

DEFAULT_NAMESPACE = "cluster-init"


def template(env: Environment, context: str, namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
    """The chart's objects. User values go in on stdin, so secrets never touch the disk.

    They go as JSON, which every YAML reader reads alike: a string stays a string however it looks.
    """
    result = tools.run("helm", [*helm_args(context, namespace), "-f", "-"], stdin=json.dumps(user_values(env)))
    if result.returncode != 0:
        _fail(env, context, result.stderr)
    return yamlfile.objects("helm", result.stdout)


def _fail(env: Environment, context: str, stderr: str) -> None:
    """Explain a helm failure: our validator's precise problems if it finds any, else helm's words."""
    from cluster_init.validation import validate  # deferred: only failures pay for jsonschema

    validate(env, context)  # raises InputError when the values are at fault
    message = stderr.strip()  # printed through the output scrubber, like everything else
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    detail = next((line.split("fail: ", 1)[1] for line in lines if "fail: " in line), " ".join(lines[-3:]))
    if "execution error" in message or "values don't meet" in message:
        raise InputError([Problem(env.values.where, "", f"the chart rejected these values: {detail}",
                                  "fix the field it names")])
    raise RuntimeFailure(f"helm template failed on {display(chart_dir())}: {detail}")

