"""Benchmark: `cluster-init plan` against a bare `helm template` of the same chart and values.

Goals (issue 2): plan <= 1.5x helm template; `cluster-init --help` cold start <= 0.3 s.
Run: `make bench` (or `.venv/bin/python benchmarks/plan_vs_helm.py [ENV_DIR] [--runs N]`).

The commands take turns within each round, so a noisy machine slows them alike; each ratio is the
median of the per-round ratios. plan keeps no cache: every run renders from scratch. Because plan
runs helm with Go's collector off (tools.child_env), helm is also timed that way, and the ratio to
it is plan's own overhead.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cluster_init import tools

ROOT = Path(__file__).resolve().parents[1]
CHART = ROOT / "charts" / "telco-cloud-init"


def once(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env_dir", nargs="?", type=Path, default=ROOT / "environment-values" / "kubeadm-capd")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    cli = str(Path(sys.executable).parent / "cluster-init")
    helm = [tools.require("helm"), "template", "telco-cloud-init", str(CHART), "--namespace", "cluster-init",
            "-f", str(CHART / "bootstrap.values.yaml"),
            "-f", str(args.env_dir / "values.yaml"), "-f", str(args.env_dir / "secrets.yaml")]
    commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
        "helm template (bare)": (helm, None),
        "helm template (GOGC as plan runs it)": (helm, tools.child_env()),
        "cluster-init plan": ([cli, "plan", str(args.env_dir)], None),
        "cluster-init --help": ([cli, "--help"], None),
    }
    for cmd, env in commands.values():  # warm the file cache
        once(cmd, env)
    rounds = [{name: once(cmd, env) for name, (cmd, env) in commands.items()} for _ in range(args.runs)]
    for name in commands:
        print(f"{name:<38} {statistics.median(r[name] for r in rounds) * 1000:8.1f} ms  (median of {args.runs})")
    for label, base, note in (("plan / helm template (bare)", "helm template (bare)", "(goal <= 1.5)"),
                              ("plan / helm template (same GOGC)", "helm template (GOGC as plan runs it)",
                               "(plan's own overhead)")):
        ratio = statistics.median(r["cluster-init plan"] / r[base] for r in rounds)
        print(f"{label:<38} {ratio:8.2f} x   {note}")
    help_start = statistics.median(r["cluster-init --help"] for r in rounds)
    print(f"{'--help cold start':<38} {help_start:8.3f} s   (goal <= 0.3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
