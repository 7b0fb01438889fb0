"""Test stand-in: octavia's no-op network driver, except that the VIP is a real neutron port.

CAPO attaches the API server's floating IP to the load balancer's VIP port, so that port must exist in
neutron. It is made the way octavia's neutron driver makes it (name, owner, device), so clean-up code
finds it as it would on a real cloud; everything about amphorae stays no-op."""
# Loaded by the services in the test cloud's venv; their packages are not in ours, hence:
# mypy: ignore-errors

from octavia.common import clients, data_models
from octavia.network.drivers.noop_driver.driver import NoopNetworkDriver

OWNER = "Octavia"


class NeutronVipNetworkDriver(NoopNetworkDriver):
    def allocate_vip(self, loadbalancer):
        neutron = clients.NeutronAuth.get_neutron_client().network
        vip = loadbalancer.vip
        if vip.port_id:
            port = neutron.get_port(vip.port_id)
        else:
            fixed_ip = {"subnet_id": vip.subnet_id} if vip.subnet_id else {}
            if fixed_ip and vip.ip_address:
                fixed_ip["ip_address"] = vip.ip_address
            network_id = vip.network_id or neutron.get_subnet(vip.subnet_id).network_id
            extra = {"fixed_ips": [fixed_ip]} if fixed_ip else {}
            port = neutron.create_port(name=f"octavia-lb-{loadbalancer.id}", network_id=network_id,
                                       admin_state_up=False, device_owner=OWNER, device_id=f"lb-{loadbalancer.id}",
                                       project_id=loadbalancer.project_id, **extra)
        first = port.fixed_ips[0]
        return data_models.Vip(ip_address=first["ip_address"], subnet_id=first["subnet_id"],
                               network_id=port.network_id, port_id=port.id,
                               load_balancer_id=loadbalancer.id), []

    def deallocate_vip(self, vip):
        neutron = clients.NeutronAuth.get_neutron_client().network
        port = neutron.find_port(vip.port_id, ignore_missing=True) if vip.port_id else None
        if port is not None and port.device_owner == OWNER:
            neutron.delete_port(port.id, ignore_missing=True)
