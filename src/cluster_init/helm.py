"""The chart rendered by the real helm, exactly as the HelmRelease renders it in each context: the one place
that knows helm's command line (`template_args`), for the ordinary render and for the early start of `plan`.

Imports stay light at the top (only `os` and `paths`): `early_render` takes the arguments from here before
anything else is loaded.
"""

from __future__ import annotations

import os

from cluster_init import paths

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from cluster_init.environment import Environment

RELEASE = "telco-cloud-init"
DEFAULT_NAMESPACE = "cluster-init"


def template_args(context: str, namespace: str) -> list[str]:
    """`helm template` of our chart as the HelmRelease of `context` renders it (values files come after)."""
    chart = paths.chart_dir()
    args = ["template", RELEASE, chart, "--namespace", namespace]
    if context == "bootstrap":
        args += ["-f", os.path.join(chart, "bootstrap.values.yaml")]
    return args


def template(env: Environment, context: str, namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
    """The chart's objects. User values go in on stdin, so secrets never touch the disk.

    They go as JSON, which every YAML reader reads alike: a string stays a string however it looks.
    """
    import json

    from cluster_init import tools, yamlfile
    from cluster_init.values import user_values

    result = tools.run("helm", [*template_args(context, namespace), "-f", "-"], stdin=json.dumps(user_values(env)))
    if result.returncode != 0:
        _fail(env, context, result.stderr)
    return yamlfile.objects("helm", result.stdout)


def _fail(env: Environment, context: str, stderr: str) -> None:
    """Explain a helm failure: our validator's precise problems if it finds any, else helm's words."""
    from cluster_init.errors import InputError, Problem, RuntimeFailure
    from cluster_init.validation import validate  # deferred: only failures pay for jsonschema

    validate(env, context)  # raises InputError when the values are at fault
    message = stderr.strip()  # printed through the output scrubber, like everything else
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    detail = next((line.split("fail: ", 1)[1] for line in lines if "fail: " in line), " ".join(lines[-3:]))
    if "execution error" in message or "values don't meet" in message:
        raise InputError([Problem(env.values.where, "", f"the chart rejected these values: {detail}",
                                  "fix the field it names")])
    raise RuntimeFailure(f"helm template failed on {paths.display(paths.chart_dir())}: {detail}")
