"""Benchmark: `cluster-init plan` against a bare `helm template` of the same chart and values.

Goals (issue 2): plan <= 1.5x helm template; `cluster-init --help` cold start <= 0.3 s.
Run: `make bench` (or `.venv/bin/python benchmarks/plan_vs_helm.py [ENV_DIR] [--runs N]`).
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


def timed(cmd: list[str], runs: int) -> float:
    """Median wall time of `runs` runs, after one warm-up run (file cache, not our cache)."""
    subprocess.run(cmd, check=True, capture_output=True)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("env_dir", nargs="?", type=Path, default=ROOT / "environment-values" / "kubeadm-capd")
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    cli = str(Path(sys.executable).parent / "cluster-init")
    helm = [tools.require("helm"), "template", "telco-cloud-init", str(CHART), "--namespace", "cluster-init",
            "-f", str(CHART / "bootstrap.values.yaml"),
            "-f", str(args.env_dir / "values.yaml"), "-f", str(args.env_dir / "secrets.yaml")]
    rows = {
        "helm template (bare)": timed(helm, args.runs),
        "cluster-init plan": timed([cli, "plan", str(args.env_dir)], args.runs),
        "cluster-init --help": timed([cli, "--help"], args.runs),
    }
    for name, seconds in rows.items():
        print(f"{name:<22} {seconds * 1000:8.1f} ms  (median of {args.runs})")
    ratio = rows["cluster-init plan"] / rows["helm template (bare)"]
    print(f"plan / helm template   {ratio:8.2f} x   (goal <= 1.5)")
    print(f"--help cold start      {rows['cluster-init --help']:8.3f} s   (goal <= 0.3)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
