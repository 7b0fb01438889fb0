"""Rendering the chart with the real helm, exactly as the HelmRelease would in each context."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from cluster_init import tools, yamlfile
from cluster_init.environment import Environment
from cluster_init.errors import InputError, Problem, RuntimeFailure
from cluster_init.paths import chart_dir, display
from cluster_init.values import scrub, secret_strings, user_values

RELEASE = "telco-cloud-init"
DEFAULT_NAMESPACE = "cluster-init"


def _args(context: str, namespace: str) -> list[str]:
    args = ["template", RELEASE, str(chart_dir()), "--namespace", namespace]
    if context == "bootstrap":
        args += ["-f", str(chart_dir() / "bootstrap.values.yaml")]
    return args


def template(env: Environment, context: str, namespace: str = DEFAULT_NAMESPACE) -> list[dict[str, Any]]:
    """The chart's objects. User values go in on stdin, so secrets never touch the disk."""
    result = tools.run("helm", [*_args(context, namespace), "-f", "-"], stdin=yaml.safe_dump(user_values(env)))
    if result.returncode != 0:
        _fail(env, context, result.stderr)
    return yamlfile.parse_all(result.stdout)


def _fail(env: Environment, context: str, stderr: str) -> None:
    """Explain a helm failure: our validator's precise problems if it finds any, else helm's words."""
    from cluster_init.validation import validate  # deferred: only failures pay for jsonschema

    validate(env, context)  # raises InputError when the values are at fault
    message = scrub(stderr.strip(), secret_strings(env))
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    detail = next((line.split("fail: ", 1)[1] for line in lines if "fail: " in line), " ".join(lines[-3:]))
    if "execution error" in message or "values don't meet" in message:
        raise InputError([Problem(env.values.where, "", f"the chart rejected these values: {detail}",
                                  "fix the field it names")])
    raise RuntimeFailure(f"helm template failed on {display(chart_dir())}: {detail}")


class Speculation:
    """helm started on the environment's own files before kustomize has built them, so the two overlap.

    Its output is used only if what kustomize built is exactly those files (the shipped layout);
    with an overlay, or on any helm error, the caller renders again the ordinary way.
    """

    def __init__(self, env_dir: Path, context: str, namespace: str) -> None:
        self.files = [env_dir / "values.yaml", env_dir / "secrets.yaml"]
        self.proc: subprocess.Popen[str] | None = None
        if all(f.is_file() for f in self.files):
            values = [arg for f in self.files for arg in ("-f", str(f))]
            args = [tools.require("helm"), *_args(context, namespace), *values]
            self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)

    def result(self, env: Environment) -> list[dict[str, Any]] | None:
        if self.proc is None:
            return None
        out, _ = self.proc.communicate()
        same = [env.values.text, env.secrets.text] == [f.read_text(encoding="utf-8") for f in self.files]
        return yamlfile.parse_all(out) if self.proc.returncode == 0 and same else None

    def cancel(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
