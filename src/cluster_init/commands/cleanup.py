"""`cluster-init cleanup`: what Cluster API Provider OpenStack left in the project for one cluster, found by the
names and descriptions CAPO writes on it, shown as a plan, and deleted with --apply."""

from __future__ import annotations

from cluster_init.commands import args as common
from cluster_init.errors import InputError, Problem, RuntimeFailure

TYPE_CHECKING = False
if TYPE_CHECKING:
    import argparse

    from cluster_init.environment import Environment
    from cluster_init.openstack.markers import Cluster

NAME = "cleanup"
SUMMARY = "Find (and with --apply delete) what CAPO left in OpenStack for a cluster."
EPILOG = ("examples:\n"
          "  cluster-init cleanup environment-values/kubeadm-capo                 # the plan, nothing deleted\n"
          "  cluster-init cleanup environment-values/kubeadm-capo --apply\n"
          "  cluster-init cleanup environment-values/kubeadm-capo --cluster old-cluster --os-cloud mycloud -o json\n\n"
          "A self-managed management cluster cannot delete itself: this removes what CAPO created for it (load\n"
          "balancer, servers, their volumes, floating IPs, ports, router, subnet, network, security groups), found\n"
          "by CAPO's names and descriptions for <namespace>-<cluster>. Anything else in the project is never\n"
          "touched, however unused it looks. Progress goes to stderr, the plan or result to stdout. A cleanup\n"
          "killed half-way can be run again: it finds what remains.")


def arguments(p: argparse.ArgumentParser) -> None:
    from pathlib import Path

    p.add_argument("env_dir", metavar="ENV_DIR", type=Path,
                   help="environment folder (cluster.name and secrets.openstack), e.g. environment-values/kubeadm-capo")
    p.add_argument("--cluster", type=common.name, metavar="NAME",
                   help="the Cluster's name (default: cluster.name of the environment)")
    p.add_argument("-n", "--namespace", default="cluster-init", type=common.namespace,
                   help="the Cluster's namespace: the chart's release namespace (default: cluster-init)")
    p.add_argument("--os-cloud", metavar="CLOUD",
                   help="use this cloud of clouds.yaml (OS_CLIENT_CONFIG_FILE) instead of the environment's secrets")
    p.add_argument("--apply", action="store_true", help="delete what the plan shows (default: only show it)")
    p.add_argument("--timeout", type=common.seconds, default=300.0, metavar="SECONDS",
                   help="how long one deletion may take before the cleanup stops (default: 300)")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text",
                   help="text (a tree per kind) or json (a list in deletion order)")


def run(args: argparse.Namespace) -> int:
    import sys

    from cluster_init import environment

    try:
        from cluster_init.openstack import apply, credentials, discovery, plan
    except ModuleNotFoundError as e:  # the `openstack` extra
        raise RuntimeFailure(f"cleanup needs {e.name}: pip install 'cluster-init[openstack]'") from None

    env = environment.load(args.env_dir)
    cluster = _cluster(env, args)
    with _cloud_errors(), credentials.connection(env, args.os_cloud) as conn:
        items = discovery.find(cluster, discovery.inventory(conn))
        title = f"cluster {cluster.namespace}/{cluster.name} in project {conn.current_project_id}"
        if not args.apply:
            sys.stdout.write(plan.as_text(items, title) if args.output == "text" else plan.as_json(items) + "\n")
            if items and args.output == "text":
                print("dry run: nothing deleted; run again with --apply to delete these", file=sys.stderr)
            return 0
        if args.output == "text":
            sys.stderr.write(plan.as_text(items, title))
        results = apply.delete_all(conn, items, args.timeout)
    if args.output == "json":
        sys.stdout.write(plan.as_json(items, results) + "\n")
    else:
        gone = sum(r == "already gone" for r in results.values())
        print(f"{title}: {len(results) - gone} deleted, {gone} already gone")
    return 0


def _cluster(env: Environment, args: argparse.Namespace) -> Cluster:
    """The Cluster CAPO built: --cluster, else the chart's cluster.name, in the release namespace."""
    from cluster_init import values
    from cluster_init.openstack.markers import Cluster

    merged = values.merged(env, "management")["cluster"]
    if args.cluster is None and merged.get("infra_provider") != "capo":
        raise InputError([Problem(env.values.at(("cluster", "infra_provider")), "cluster.infra_provider",
                                  f"is {merged.get('infra_provider')}, not capo: cleanup is for OpenStack",
                                  "point ENV_DIR at an OpenStack environment (e.g. environment-values/kubeadm-capo)")])
    return Cluster(args.namespace, args.cluster or str(merged["name"]))


class _cloud_errors:
    """OpenStack's own failures (unreachable, refused credentials, an API error) as one line, exit 1; the
    libraries' log lines are theirs, not the user's."""

    def __enter__(self) -> None:
        import logging

        for name in ("keystoneauth", "openstack", "stevedore"):
            logging.getLogger(name).setLevel(logging.CRITICAL)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, _: object) -> None:
        from keystoneauth1 import exceptions as auth
        from openstack import exceptions as sdk

        if isinstance(error, sdk.SDKException | auth.ClientException):
            message = " ".join(str(error).split()).split(": HTTP", 1)[0][:200]
            hint = next((h for cls, h in HINTS if isinstance(error, getattr(auth, cls))), "")
            raise RuntimeFailure(f"OpenStack: {type(error).__name__}: {message}{hint}") from None


HINTS = (("Unauthorized", "; the cloud refused the credentials: check secrets.openstack (or the cloud of --os-cloud)"),
         ("ConnectFailure", "; check auth_url and that this machine reaches the cloud"),
         ("DiscoveryFailure", "; check auth_url and that this machine reaches the cloud"))
