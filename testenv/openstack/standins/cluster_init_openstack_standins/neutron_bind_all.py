"""Test stand-in: an ML2 mechanism driver that binds every port on every segment.

There are no L2 agents here; the drivers neutron ships for tests bind only magic host names, and nova's
fake compute hosts need their ports bound for a server to become ACTIVE."""
# Loaded by the services in the test cloud's venv; their packages are not in ours, hence:
# mypy: ignore-errors

from neutron_lib.api.definitions import portbindings
from neutron_lib.plugins.ml2 import api


class BindAllMechanismDriver(api.MechanismDriver):
    """Binds a port to the first segment offered, as an OVS port, on any host."""

    def initialize(self):
        pass

    def bind_port(self, context):
        for segment in context.segments_to_bind:
            context.set_binding(segment[api.ID], portbindings.VIF_TYPE_OVS, {portbindings.CAP_PORT_FILTER: True})
            return
