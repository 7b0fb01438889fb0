"""Command line: python -m testenv {up,down,build,gomod,stack,openstack}."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cluster_init.kube import ApiError
from testenv import build
from testenv.controlplane import ControlPlane, StartupError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m testenv", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a control plane; prints KUBECONFIG=<path> as its last line")
    up.add_argument("--name", default="default", help="control plane name (default: %(default)s)")
    up.add_argument("--port", type=int, help="kube-apiserver port on 127.0.0.1 (default: a free one)")
    up.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for readiness")
    up.add_argument(
        "--crds",
        nargs="*",
        type=Path,
        metavar="FILE",
        help="install CRDs from these YAML files (no files: the pinned CRD set) and wait for them",
    )
    down = sub.add_parser("down", help="stop a control plane and remove its state dir")
    down.add_argument("--name", default="default", help="control plane name (default: %(default)s)")
    down.add_argument("--keep", action="store_true", help="keep the state dir (logs, etcd data)")
    sub.add_parser("build", help="build the missing twin binaries into the cache; print their directory")
    sub.add_parser("gomod", help="regenerate testenv/go/go.mod and go.sum from versions.yaml (twin:)")
    stack = sub.add_parser("stack", help="the offline stack (T2): dockerd, the kind node image, kind clusters")
    stack.add_argument("action", choices=("build", "up", "down", "env"),
                       help="build: install and start what is missing, build the node image and the "
                            "controllers' images, publish images, sources and charts to the local registry; "
                            "up: a kind cluster on it (prints KUBECONFIG=...); down: delete that cluster; "
                            "env: write ENV_DIR pointed at the stack's mirrors to OUT_DIR (make bootstrap)")
    stack.add_argument("--name", default="cluster-init-stack", help="kind cluster name (default: %(default)s)")
    stack.add_argument("--env", type=Path, metavar="ENV_DIR", help="env: the environment folder to point at the stack")
    stack.add_argument("--out", type=Path, metavar="OUT_DIR", help="env: where to write it")
    openstack = sub.add_parser("openstack", help="the test OpenStack (testenv/openstack)")
    openstack.add_argument("action", choices=("up", "down", "env"),
                           help="up: install what is missing, start it from fresh state, print OS_CLIENT_CONFIG_FILE"
                                "=... and OS_CLOUD=...; down: stop it by its recorded PIDs; env: print those lines")
    args = parser.parse_args(argv)
    if args.command == "openstack":
        return _openstack(args.action)
    if args.command == "stack" and args.action == "env":
        if not (args.env and args.out):
            parser.error("stack env needs --env ENV_DIR and --out OUT_DIR")
        from testenv.stack import environment

        print(environment.write(args.env, args.out))
        return 0
    if args.command == "stack":
        return _stack(args.action, args.name)

    try:
        if args.command == "up":
            crds = args.crds if args.crds else (_pinned_crd_files() if args.crds is not None else [])
            kubeconfig = ControlPlane(args.name, port=args.port, timeout=args.timeout).up(crds)
            print(f"KUBECONFIG={kubeconfig}")
        elif args.command == "down":
            stopped = ControlPlane(args.name).down(keep=args.keep)
            print(f"{args.name}: stopped {', '.join(stopped)}" if stopped else f"{args.name}: was not running")
        elif args.command == "build":
            print(build.ensure_binaries())
        else:
            build.write_gomod()
    except (StartupError, build.BuildError, ApiError, TimeoutError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _pinned_crd_files() -> list[Path]:
    """The CRD files of the pinned upstreams (Flux, cert-manager, CAPI and providers), for `up --crds`."""
    from testenv.crds import crd_files  # fetches the pinned modules: only imported when asked for

    return list(crd_files())


def _stack(action: str, name: str) -> int:
    from testenv.stack import cluster, host

    try:
        host.ensure_host()
        if action == "build":
            from testenv.stack import build_all

            for line in build_all():
                print(line)
        elif action == "up":
            print(f"KUBECONFIG={cluster.up(name)}")
        else:
            cluster.down(name)
    except (build.BuildError, host.HostError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


def _openstack(action: str) -> int:
    from testenv import openstack

    try:
        if action == "down":
            stopped = openstack.down()
            print(f"stopped {', '.join(stopped)}" if stopped else "the test cloud was not running")
            return 0
        path = openstack.up() if action == "up" else openstack.clouds_yaml()
    except (openstack.install.InstallError, openstack.services.ServiceError, OSError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"OS_CLIENT_CONFIG_FILE={path}\nOS_CLOUD={openstack.CLOUD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
