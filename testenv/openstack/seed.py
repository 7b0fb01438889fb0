"""Seed the test cloud through its APIs: `seed.py identity|resources` with the cloud's facts as JSON on stdin.

Run by the test cloud's venv (after `keystone-manage bootstrap`), so it needs nothing from the project's venv.
identity: the service users (with the `service` role keystonemiddleware requires on service tokens), the
catalog, the test project and its user. resources: a flavor, an image, an external network with its subnet,
the test user's keypair and quotas, and the compute host discovered. Prints the ids as JSON."""
# mypy: ignore-errors

import json
import sys
import time

import openstack
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

CATALOG = (  # service, type, path under its URL
    ("nova", "compute", "/v2.1"), ("neutron", "network", ""), ("glance", "image", ""),
    ("cinder", "block-storage", "/v3"), ("cinder", "volumev3", "/v3"), ("placement", "placement", ""),
    ("octavia", "load-balancer", ""))
PROJECT_ROLES = ("member", "load-balancer_member")


def connect(facts, user, password, project):
    return openstack.connect(auth_url=facts["auth_url"], username=user, password=password, project_name=project,
                             user_domain_name="Default", project_domain_name="Default",
                             region_name=facts["region"], identity_interface="public")


def role(admin, name):
    return admin.identity.find_role(name) or admin.identity.create_role(name=name)


def identity(facts):
    admin = connect(facts, "admin", facts["admin_password"], "admin")
    service = admin.identity.create_project(name="service", domain_id="default")
    roles = [role(admin, "admin"), role(admin, "service")]
    for name in facts["services"]:
        user = admin.identity.create_user(name=name, password=facts["service_password"], domain_id="default")
        for r in roles:
            admin.identity.assign_project_role_to_user(service, user, r)
    for name, kind, path in CATALOG:
        svc = admin.identity.create_service(name=name if kind != "volumev3" else "cinderv3", type=kind)
        for interface in ("public", "internal"):
            admin.identity.create_endpoint(service_id=svc.id, interface=interface, region_id=facts["region"],
                                           url=facts["urls"][name] + path)
    project = admin.identity.create_project(name=facts["project"], domain_id="default")
    user = admin.identity.create_user(name=facts["user"], password=facts["user_password"], domain_id="default",
                                      default_project_id=project.id)
    for name in PROJECT_ROLES:
        admin.identity.assign_project_role_to_user(project, user, role(admin, name))
    return {"project_id": project.id}


def resources(facts):
    admin = connect(facts, "admin", facts["admin_password"], "admin")
    project = admin.identity.find_project(facts["project"])
    flavor = admin.compute.create_flavor(name=facts["flavor"], vcpus=2, ram=4096, disk=20, is_public=True)
    image = admin.image.create_image(name=facts["image"], disk_format="raw", container_format="bare",
                                     visibility="public", data=b"\0" * 1024 * 1024, validate_checksum=False)
    external = admin.network.create_network(name="public", is_router_external=True,
                                            provider_network_type="flat", provider_physical_network="public")
    admin.network.create_subnet(name="public-subnet", network_id=external.id, ip_version=4, cidr="172.24.4.0/24",
                                gateway_ip="172.24.4.1", is_dhcp_enabled=False)
    admin.compute.update_quota_set(project.id, instances=-1, cores=-1, ram=-1, key_pairs=-1)
    admin.network.update_quota(project.id, security_groups=-1, security_group_rules=-1, ports=-1, networks=-1,
                               subnets=-1, routers=-1, floating_ips=-1)
    user = connect(facts, facts["user"], facts["user_password"], facts["project"])
    public_key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    keypair = user.compute.create_keypair(name=facts["keypair"], public_key=public_key)
    deadline = time.monotonic() + facts["timeout"]
    while not list(admin.compute.hypervisors()):  # the scheduler maps the compute host every 2 s
        if time.monotonic() > deadline:
            raise SystemExit("no hypervisor was discovered: see nova-compute.out and nova-scheduler.out")
        time.sleep(1)
    return {"project_id": project.id, "flavor_id": flavor.id, "image_id": image.id,
            "external_network_id": external.id, "keypair": keypair.name}


def main():
    facts = json.load(sys.stdin)
    print(json.dumps({"identity": identity, "resources": resources}[sys.argv[1]](facts)))


if __name__ == "__main__":
    main()
