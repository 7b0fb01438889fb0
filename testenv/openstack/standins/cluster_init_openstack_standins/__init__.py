"""Test stand-ins for the test cloud: drivers for the parts that cannot exist here (hypervisors, L2, amphorae)."""
