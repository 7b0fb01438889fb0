"""The markers CAPO v0.13.0 writes on the OpenStack resources of one cluster, and nothing else.

CAPO (sigs.k8s.io/cluster-api-provider-openstack@v0.13.0) derives every name from one base, the
Cluster's `<namespace>-<name>` (pkg/utils/names: ClusterResourceName), and describes most of what it
creates with one sentence naming that base (names.GetDescription). ORC v2.6.0 creates nothing for a
cluster of this bundle: CAPO resolves the image by a filter (an existing image), and CAPO references
the SSH key pair and server groups by name without creating them. So a resource is the cluster's only
when it carries these markers; being unattached or unused says nothing about whose it is.

Two clusters whose `<namespace>-<name>` are equal (`a`/`b-c` and `a-b`/`c`) share every marker: CAPO
itself cannot tell them apart either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NETWORK_PREFIX = "k8s-clusterapi-cluster"  # networking/service.go networkPrefix + "-cluster"
SECURITY_GROUP_ROLES = ("controlplane", "worker", "bastion")
SECURITY_GROUP_DESCRIPTION = "Cluster API managed group"  # securitygroups.go getOrCreateSecurityGroup
ROOT_VOLUME_DESCRIPTION = "Root volume for {machine}"  # compute/instance.go getBlockDevices
EXTRA_VOLUME_DESCRIPTION = "Additional block device for {machine}"
PORT_INDEX = re.compile(r"-[0-9]+\Z")  # networking/port.go getPortName: `<machine>-<index>` without a suffix


@dataclass(frozen=True)
class Cluster:
    """A Cluster API Cluster, by namespace and name, and the markers CAPO derives from them."""

    namespace: str
    name: str

    @property
    def resource_name(self) -> str:
        """The base of every name and description (CAPO's ClusterResourceName)."""
        return f"{self.namespace}-{self.name}"

    @property
    def description(self) -> str:
        """What CAPO writes as the description of the subnet, router, load balancer, floating IPs and ports."""
        return f"Created by cluster-api-provider-openstack cluster {self.resource_name}"

    @property
    def network_name(self) -> str:
        """The name of the cluster's network, subnet and router (getNetworkName, getSubnetName, getRouterName)."""
        return f"{NETWORK_PREFIX}-{self.resource_name}"

    @property
    def load_balancer_name(self) -> str:
        """The API server's load balancer (getLoadBalancerName); its listeners and pools add `-<port>`."""
        return f"{self.network_name}-kubeapi"

    @property
    def security_group_names(self) -> tuple[str, ...]:
        """The managed security groups (getSec{ControlPlane,Worker,Bastion}GroupName)."""
        return tuple(f"k8s-cluster-{self.resource_name}-secgroup-{role}" for role in SECURITY_GROUP_ROLES)

    @property
    def bastion_name(self) -> str:
        """The bastion server (openstackcluster_controller.go bastionName), named after the Cluster alone."""
        return f"{self.name}-bastion"


def machine_of_port(port_name: str) -> str | None:
    """The machine a port was made for, when it has CAPO's default name `<machine>-<index>`."""
    match = PORT_INDEX.search(port_name)
    return port_name[:match.start()] if match and match.start() > 0 else None


def volume_machine(name: str, description: str) -> str | None:
    """The machine a CAPO volume was made for: `<machine>-root` described as its root volume, or
    `<machine>-<block device>` described as an additional block device of it (volumeName)."""
    for template in (ROOT_VOLUME_DESCRIPTION, EXTRA_VOLUME_DESCRIPTION):
        prefix = template.split("{", 1)[0]
        if description.startswith(prefix):
            machine = description[len(prefix):]
            if machine and name.startswith(f"{machine}-") and len(name) > len(machine) + 1:
                if template is ROOT_VOLUME_DESCRIPTION and name != f"{machine}-root":
                    return None
                return machine
    return None
