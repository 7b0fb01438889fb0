"""Benchmark: `cluster-init pivot` against `clusterctl move` (built from the pinned Cluster API module) and the
floor, on the hermetic twin (two real control planes on this machine).

For each size (clusters per namespace, every flavor in turn), the same generated source objects are moved by:

- ours: `cluster-init pivot --namespace NS` (the CLI, end to end: discovery, checks, pause, create with field
  managers, verify, delete, unpause, final check); statuses are left to the controllers, as clusterctl does;
- ours+status: the same with `--copy-status` (each status written through the status subresource too);
- clusterctl: `clusterctl move --namespace NS`;
- floor: the same objects created in the target and deleted from the source with plain concurrent requests
  (same client, same concurrency), no ordering and no move logic (an object with finalizers is patched to
  drop them before its delete: without that it would not go away).
  `floor+status` also writes each status through the status subresource, the baseline for ours+status.

Goals (issue 4): at 100 clusters, ours >= 3x faster than clusterctl and <= 1.5x the floor.
Run: `make bench-pivot`, or `PYTHONPATH=. .venv/bin/python benchmarks/pivot_vs_clusterctl.py [--sizes 1 10 100]`
(takes minutes: it starts two
control planes and generates every source).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cluster_init.kube import Client
from tests.t1 import capi_graphs as graphs
from tests.t1.pivot_fixtures import (
    MOVED_KINDS,
    Pair,
    clusterctl,
    labelled_crd_files,
    snapshot,
    start_pair,
    stop_pair,
)

JSON = dict[str, Any]


async def generate(pair: Pair, objects: list[graphs.Obj]) -> None:
    src, dst = pair.clients()
    async with src, dst:
        await graphs.create(src, objects)


async def count(client: Client, ns: str) -> int:
    return len(await snapshot(client, [ns], MOVED_KINDS))


async def floor(pair: Pair, ns: str, *, with_status: bool) -> float:
    """Create every object of `ns` in the target and delete it from the source, concurrently, no move logic."""
    src, dst = pair.clients()
    async with src, dst:
        objects = list((await snapshot(src, [ns], MOVED_KINDS)).values())
        resources = {(o["apiVersion"], o["kind"]): await src.resource(o["apiVersion"], o["kind"]) for o in objects}
        await graphs.ensure_namespaces(dst, [ns])

        async def copy(o: JSON) -> None:
            res = resources[(o["apiVersion"], o["kind"])]
            meta = {k: v for k, v in o["metadata"].items()
                    if k in ("name", "namespace", "labels", "annotations", "finalizers")}
            await dst.create(res, {**{k: v for k, v in o.items() if k not in ("metadata", "status")},
                                   "metadata": meta}, ns)
            if with_status and res.has_status and "status" in o:
                await dst.patch(res, meta["name"], ns, [{"op": "add", "path": "/status", "value": o["status"]}],
                                json_patch=True, subresource="status")

        async def delete(o: JSON) -> None:  # an object with finalizers is only gone once they are removed
            res = resources[(o["apiVersion"], o["kind"])]
            if o["metadata"].get("finalizers"):
                await src.patch(res, o["metadata"]["name"], ns, {"metadata": {"finalizers": None}})
            await src.delete(res, o["metadata"]["name"], ns)

        t0 = time.perf_counter()
        await asyncio.gather(*(copy(o) for o in objects))
        await asyncio.gather(*(delete(o) for o in objects))
        return time.perf_counter() - t0


def ours(pair: Pair, ns: str, *extra: str) -> tuple[float, JSON]:
    cmd = [str(Path(sys.executable).parent / "cluster-init"), "pivot", "--from-kubeconfig", str(pair.source_kubeconfig),
           "--to-kubeconfig", str(pair.target_kubeconfig), "--namespace", ns, "-o", "json", *extra]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"cluster-init pivot failed: {proc.stderr[-2000:]}")
    return elapsed, json.loads(proc.stdout)


def theirs(pair: Pair, ns: str) -> float:
    t0 = time.perf_counter()
    proc = clusterctl("move", "--kubeconfig", pair.source_kubeconfig, "--to-kubeconfig", pair.target_kubeconfig,
                      "--namespace", ns)
    elapsed = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"clusterctl move failed: {proc.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--skip-clusterctl", action="store_true")
    args = parser.parse_args()
    if not args.skip_clusterctl:
        clusterctl("version")  # build it first (cached), outside any timing
    with tempfile.TemporaryDirectory(prefix="pivot-bench-") as tmp:
        pair = start_pair("bench", labelled_crd_files(Path(tmp)))
        rows = []
        try:
            methods = ["floor", "floor+status", "ours", "ours+status"]
            methods += [] if args.skip_clusterctl else ["clusterctl"]
            for size in args.sizes:
                row: dict[str, Any] = {"clusters": size}
                for method in methods:
                    fleet = graphs.fleet(size, namespaces=1, prefix="wl",
                                         namespace_prefix=f"b{size}-{method.replace('+', '-')}")
                    ns = fleet.clusters[0][0]
                    asyncio.run(generate(pair, fleet.objects))
                    row["objects"] = len(fleet.objects)
                    if method.startswith("ours"):
                        row[method], report = ours(pair, ns, *(["--copy-status"] if method == "ours+status" else []))
                        row[f"{method} requests"] = sum(report["requests"].values())
                        phases = ", ".join(f"{k} {v:.1f}s" for k, v in report["timings"].items())
                        print(f"{size} clusters, {method} by phase: {phases}; requests {report['requests']}",
                              file=sys.stderr)
                    elif method == "clusterctl":
                        row[method] = theirs(pair, ns)
                    else:
                        row[method] = asyncio.run(floor(pair, ns, with_status=method == "floor+status"))
                    moved = asyncio.run(_count_target(pair, ns))
                    if moved != len(fleet.objects):
                        raise RuntimeError(f"{method}: {moved} of {len(fleet.objects)} objects in the target")
                    print(f"{size} clusters, {method}: {row[method]:.2f}s", file=sys.stderr)
                rows.append(row)
        finally:
            stop_pair(pair)
    print("| clusters | objects | ours (s) | clusterctl (s) | floor (s) | ours vs clusterctl | ours / floor "
          "| ours+status (s) | floor+status (s) | ours+status / floor+status | our requests (+status) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        cc = r.get("clusterctl")
        speedup = f"{cc / r['ours']:.1f}x faster" if cc else "-"
        print(f"| {r['clusters']} | {r['objects']} | {r['ours']:.2f} | {f'{cc:.2f}' if cc else '-'} | "
              f"{r['floor']:.2f} | {speedup} | {r['ours'] / r['floor']:.2f}x | {r['ours+status']:.2f} | "
              f"{r['floor+status']:.2f} | {r['ours+status'] / r['floor+status']:.2f}x | "
              f"{r['ours requests']} ({r['ours+status requests']}) |")
    return 0


async def _count_target(pair: Pair, ns: str) -> int:
    src, dst = pair.clients()
    async with src, dst:
        return await count(dst, ns)


if __name__ == "__main__":
    sys.exit(main())
