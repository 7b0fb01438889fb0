"""Start helm on an environment's own files before anything else, so its run overlaps ours.

`plan` spends most of its time waiting for `helm template`. Starting it first, from the files of the
shipped layout (values.yaml, secrets.yaml), hides Python's imports and the kustomize build behind it.
The result counts only if kustomize then builds exactly those files; otherwise (an overlay, a helm
error) the caller renders again the ordinary way. This module imports nothing heavy on purpose.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from cluster_init import tools
from cluster_init.paths import chart_dir

RELEASE = "telco-cloud-init"


def helm_args(context: str, namespace: str) -> list[str]:
    args = ["template", RELEASE, str(chart_dir()), "--namespace", namespace]
    if context == "bootstrap":
        args += ["-f", str(chart_dir() / "bootstrap.values.yaml")]
    return args


class Speculation:
    def __init__(self, env_dir: Path, context: str, namespace: str) -> None:
        self.env_dir = env_dir
        self.files = [env_dir / "values.yaml", env_dir / "secrets.yaml"]
        self.proc: subprocess.Popen[str] | None = None
        self.kustomize: subprocess.Popen[str] | None = None
        if all(f.is_file() for f in self.files):
            values = [arg for f in self.files for arg in ("-f", str(f))]
            self.proc = subprocess.Popen([tools.require("helm"), *helm_args(context, namespace), *values],
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.kustomize = subprocess.Popen([tools.require("kustomize"), "build", str(env_dir)],
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def build(self) -> subprocess.CompletedProcess[str]:
        """The environment's `kustomize build`: the one started alongside helm, or a fresh one."""
        if self.kustomize is None:
            return tools.run("kustomize", ["build", str(self.env_dir)])
        out, err = self.kustomize.communicate()
        return subprocess.CompletedProcess(self.kustomize.args, self.kustomize.returncode, out, err)

    def output(self, built_texts: list[str]) -> str | None:
        """helm's output, if it succeeded and kustomize built exactly the files helm read."""
        if self.proc is None:
            return None
        out, _ = self.proc.communicate()
        same = built_texts == [f.read_text(encoding="utf-8") for f in self.files]
        return out if self.proc.returncode == 0 and same else None

    def cancel(self) -> None:
        for proc in (self.proc, self.kustomize):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
