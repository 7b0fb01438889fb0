"""The test cloud's configuration files: one ini per service, written fresh into the state folder.

Every service talks to MariaDB and RabbitMQ on loopback and to the others through the catalog, whose
endpoints are on the address the kind clusters' pods reach (`Cloud.host`)."""

from __future__ import annotations

import configparser
import shutil
from dataclasses import dataclass, field
from pathlib import Path

REGION = "RegionOne"
ADMIN_PASSWORD = "test-cloud-admin"  # a throw-away cloud on this machine's private addresses
SERVICE_PASSWORD = "test-cloud-service"
SERVICES = ("nova", "neutron", "glance", "cinder", "placement", "octavia")
MYSQL_PORT = 13306
RABBIT_PORT = 15673
EPMD_PORT = 14369
PORTS = {"keystone": 5000, "glance": 9292, "placement": 8778, "nova": 8774, "neutron": 9696, "cinder": 8776,
         "octavia": 9876}
DATABASES = ("keystone", "glance", "placement", "nova_api", "nova", "nova_cell0", "neutron", "cinder", "octavia")

Sections = dict[str, dict[str, object]]


@dataclass(frozen=True)
class Cloud:
    """Where the cloud lives: its state folder, its venv, the address it serves on, this run's compute host."""

    state: Path
    venv: Path
    host: str
    compute_host: str
    paths: dict[str, Path] = field(default_factory=dict)

    def url(self, service: str) -> str:
        return f"http://{self.host}:{PORTS[service]}"

    @property
    def auth_url(self) -> str:
        return self.url("keystone") + "/v3"

    def etc(self, service: str) -> Path:
        return self.state / "etc" / service

    def conf(self, service: str) -> Path:
        return self.etc(service) / ("glance-api.conf" if service == "glance" else f"{service}.conf")


def db(name: str) -> str:
    return f"mysql+pymysql://root@127.0.0.1:{MYSQL_PORT}/{name}?charset=utf8"


def transport() -> str:
    return f"rabbit://guest:guest@127.0.0.1:{RABBIT_PORT}/"


def service_auth(cloud: Cloud, user: str) -> dict[str, object]:
    """keystoneauth options for a service user (also used for its calls to the other services)."""
    return {"auth_type": "password", "auth_url": cloud.auth_url, "username": user, "password": SERVICE_PASSWORD,
            "project_name": "service", "user_domain_name": "Default", "project_domain_name": "Default",
            "region_name": REGION}


def authtoken(cloud: Cloud, user: str) -> dict[str, object]:
    return {**service_auth(cloud, user), "www_authenticate_uri": cloud.auth_url, "service_token_roles_required": True,
            "memcached_servers": ""}


def common(cloud: Cloud, service: str) -> Sections:
    return {"DEFAULT": {"debug": False, "state_path": cloud.state / service, "transport_url": transport(),
                        "graceful_shutdown_timeout": 5,
                        "log_file": cloud.state / "log" / f"{service}.log", "use_stderr": False},
            "oslo_concurrency": {"lock_path": cloud.state / service / "lock"},
            "oslo_policy": {"enforce_scope": False, "enforce_new_defaults": False},
            "keystone_authtoken": authtoken(cloud, service)}


def keystone(cloud: Cloud) -> Sections:
    return {"DEFAULT": {"log_file": cloud.state / "log" / "keystone.log", "use_stderr": False},
            "database": {"connection": db("keystone")},
            "token": {"provider": "fernet"},
            "fernet_tokens": {"key_repository": cloud.state / "keystone" / "fernet-keys"},
            "fernet_receipts": {"key_repository": cloud.state / "keystone" / "fernet-keys"},
            "credential": {"key_repository": cloud.state / "keystone" / "credential-keys"},
            "oslo_policy": {"enforce_scope": False, "enforce_new_defaults": False}}


def glance(cloud: Cloud) -> Sections:
    out = common(cloud, "glance")
    out["DEFAULT"].update({"enabled_backends": "fs:file", "worker_self_reference_url": cloud.url("glance")})
    out.update({"database": {"connection": db("glance")},
                "paste_deploy": {"flavor": "keystone", "config_file": cloud.venv / "etc/glance/glance-api-paste.ini"},
                "glance_store": {"default_backend": "fs"},
                "fs": {"filesystem_store_datadir": cloud.state / "glance" / "images"},
                "os_glance_staging_store": {"filesystem_store_datadir": cloud.state / "glance" / "staging"},
                "os_glance_tasks_store": {"filesystem_store_datadir": cloud.state / "glance" / "tasks"}})
    return out


def placement(cloud: Cloud) -> Sections:
    out = common(cloud, "placement")
    out.update({"placement_database": {"connection": db("placement")}, "api": {"auth_strategy": "keystone"}})
    return out


def nova(cloud: Cloud) -> Sections:
    out = common(cloud, "nova")
    out["DEFAULT"].update({"compute_driver": "fake.FakeDriver", "host": cloud.compute_host, "my_ip": "127.0.0.1",
                           "osapi_compute_workers": 1, "metadata_workers": 1,
                           "vif_plugging_is_fatal": False, "vif_plugging_timeout": 0,
                           "instances_path": cloud.state / "nova" / "instances"})
    out.update({"api_database": {"connection": db("nova_api")},
                "database": {"connection": db("nova")},
                "api": {"auth_strategy": "keystone"},
                "wsgi": {"api_paste_config": cloud.venv / "etc/nova/api-paste.ini"},
                "placement": service_auth(cloud, "nova"),
                "neutron": {**service_auth(cloud, "neutron"), "service_metadata_proxy": False},
                "cinder": {"os_region_name": REGION, **service_auth(cloud, "nova")},
                "glance": {"region_name": REGION},
                "service_user": {**service_auth(cloud, "nova"), "send_service_user_token": True},
                "scheduler": {"discover_hosts_in_cells_interval": 2},
                "conductor": {"workers": 1},
                "filter_scheduler": {"enabled_filters": "ComputeFilter"},
                "oslo_messaging_notifications": {"driver": "noop"},
                "privsep": {"helper_command": f"{cloud.venv}/bin/privsep-helper"}})
    return out


def neutron(cloud: Cloud) -> Sections:
    out = common(cloud, "neutron")
    out["DEFAULT"].update({"core_plugin": "ml2", "service_plugins": "router", "allow_overlapping_ips": True,
                           "notify_nova_on_port_status_changes": False, "notify_nova_on_port_data_changes": False,
                           "dhcp_agent_notification": False, "api_workers": 1, "rpc_workers": 1,
                           "rpc_state_report_workers": 1, "api_paste_config": cloud.venv / "etc/neutron/api-paste.ini"})
    out.update({"database": {"connection": db("neutron")},
                "nova": service_auth(cloud, "nova"),
                "ml2": {"type_drivers": "flat,vxlan", "tenant_network_types": "vxlan",
                        "mechanism_drivers": "test_bind_all", "extension_drivers": "port_security"},
                "ml2_type_flat": {"flat_networks": "public"},
                "ml2_type_vxlan": {"vni_ranges": "1:10000"},
                "oslo_messaging_notifications": {"driver": "noop"}})
    return out


def cinder(cloud: Cloud) -> Sections:
    out = common(cloud, "cinder")
    out["DEFAULT"].update({"enabled_backends": "fake", "osapi_volume_workers": 1,
                           "api_paste_config": cloud.venv / "etc/cinder/api-paste.ini", "auth_strategy": "keystone",
                           "glance_api_servers": cloud.url("glance"), "image_conversion_dir":
                           cloud.state / "cinder" / "conversion", "rootwrap_config": "/nonexistent"})
    out.update({"database": {"connection": db("cinder")},
                "fake": {"volume_driver": "cluster_init_openstack_standins.cinder_volume.NoCopyFakeVolumeDriver",
                         "volume_backend_name": "fake"},
                "nova": service_auth(cloud, "nova"),
                "service_user": {**service_auth(cloud, "cinder"), "send_service_user_token": True},
                "oslo_messaging_notifications": {"driver": "noop"},
                "privsep": {"helper_command": f"{cloud.venv}/bin/privsep-helper"},
                "privsep_osbrick": {"helper_command": f"{cloud.venv}/bin/privsep-helper"}})
    return out


def octavia(cloud: Cloud) -> Sections:
    out = common(cloud, "octavia")
    certs = cloud.state / "octavia" / "certs"
    out.update({"database": {"connection": db("octavia")},
                "oslo_messaging": {"topic": "octavia_prov"},
                "api_settings": {"bind_host": cloud.host, "auth_strategy": "keystone",
                                 "enabled_provider_drivers": "amphora:the test cloud's no-op amphorae",
                                 "default_provider_driver": "amphora"},
                "controller_worker": {"amphora_driver": "amphora_noop_driver",
                                      "compute_driver": "compute_noop_driver",
                                      "network_driver": "test_neutron_vip", "volume_driver": "volume_noop_driver",
                                      "image_driver": "image_noop_driver", "loadbalancer_topology": "SINGLE",
                                      "workers": 1, "amp_boot_network_list": "", "amp_flavor_id": "noop",
                                      "amp_image_tag": "noop", "client_ca": certs / "ca.pem"},
                "task_flow": {"jobboard_enabled": False},
                "certificates": {"cert_generator": "local_cert_generator", "ca_certificate": certs / "ca.pem",
                                 "ca_private_key": certs / "ca.key"},
                "haproxy_amphora": {"client_cert": certs / "client.pem", "server_ca": certs / "ca.pem"},
                "service_auth": service_auth(cloud, "octavia"),
                "neutron": {"region_name": REGION, "endpoint_type": "public"},
                "nova": {"region_name": REGION}, "glance": {"region_name": REGION},
                "cinder": {"region_name": REGION}})
    return out


WRITERS = {"keystone": keystone, "glance": glance, "placement": placement, "nova": nova, "neutron": neutron,
           "cinder": cinder, "octavia": octavia}


def write_all(cloud: Cloud) -> None:
    for service, sections in WRITERS.items():
        parser = configparser.ConfigParser(interpolation=None)
        parser.optionxform = str  # type: ignore[assignment,method-assign]
        for name, options in sections(cloud).items():
            target = parser.defaults() if name == "DEFAULT" else None
            if target is None:
                parser.add_section(name)
            for key, value in options.items():
                text = str(value).lower() if isinstance(value, bool) else str(value)
                parser.set(name, key, text)
        cloud.etc(service).mkdir(parents=True, exist_ok=True)
        with cloud.conf(service).open("w") as f:
            parser.write(f)
    shutil.copy(cloud.venv / "etc/nova/api-paste.ini", cloud.etc("nova"))  # nova's WSGI app reads it from there
    (cloud.state / "log").mkdir(parents=True, exist_ok=True)
