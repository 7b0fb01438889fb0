"""A test OpenStack: keystone, placement, glance, nova (fake compute driver), neutron (ML2 without agents),
cinder (fake volume driver) and octavia (no-op amphorae) from PyPI, on MariaDB and RabbitMQ from Debian.

`up()` starts it from fresh state and returns its clouds.yaml; `down()` stops it by its recorded PIDs. The
APIs answer on the host's address on the Docker network `kind`, and the catalog names that address, so the
controllers in kind clusters reach them. What cannot exist here (hypervisors, L2, amphorae) is replaced by
the no-op drivers OpenStack's own tests use and by our stand-ins (standins/)."""

from __future__ import annotations

import fcntl
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from testenv.openstack import certs, config, install, network, services
from testenv.openstack.config import Cloud
from testenv.stack.progress import step

CLOUD = "cluster-init-test"  # the test project's cloud in clouds.yaml; `<CLOUD>-admin` is the cloud's admin
PROJECT = USER = CLOUD
USER_PASSWORD = "test-cloud-user"
FLAVOR, IMAGE, KEYPAIR = "test.medium", "test-image", "test-key"
SEED = Path(__file__).resolve().parent / "seed.py"
# Debian's /usr/sbin/rabbitmq-server drops to the rabbitmq user, who cannot write our state: run it as we are.
RABBITMQ_SERVER = "/usr/lib/rabbitmq/bin/rabbitmq-server"


def clouds_yaml() -> Path:
    return install.root() / "clouds.yaml"


def seed_facts() -> Path:
    return install.root() / "seed.json"


def _run(cloud: Cloud, *argv: str, stdin: str | None = None, timeout: float = 600) -> str:
    cmd = [str(cloud.venv / "bin" / argv[0]), *argv[1:]]
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, check=False, timeout=timeout,
                          cwd=cloud.state)
    if proc.returncode != 0:
        raise services.ServiceError(f"{' '.join(argv[:3])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def _conf(cloud: Cloud, service: str) -> list[str]:
    return ["--config-file", str(cloud.conf(service))]


def _infrastructure(cloud: Cloud) -> list[services.Service]:
    epmd = {"ERL_EPMD_PORT": str(config.EPMD_PORT), "ERL_EPMD_ADDRESS": "127.0.0.1"}
    rabbit_home = cloud.state / "rabbitmq"
    rabbit = {**epmd, "HOME": str(rabbit_home), "RABBITMQ_MNESIA_BASE": str(rabbit_home / "mnesia"),
              "RABBITMQ_LOG_BASE": str(cloud.state / "log"), "RABBITMQ_NODENAME": "cluster-init-test@localhost",
              "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1", "RABBITMQ_NODE_PORT": str(config.RABBIT_PORT),
              "RABBITMQ_DIST_PORT": str(config.RABBIT_PORT + 20000), "RABBITMQ_ENABLED_PLUGINS_FILE":
              str(rabbit_home / "enabled_plugins"), "RABBITMQ_CONFIG_FILE": str(rabbit_home / "rabbitmq"),
              "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}"}
    mysql = cloud.state / "mysql"
    return [
        services.Service("epmd", ["epmd", "-port", str(config.EPMD_PORT), "-address", "127.0.0.1"], epmd,
                         ("127.0.0.1", config.EPMD_PORT)),
        services.Service("mariadb", ["mariadbd", "--no-defaults", f"--datadir={mysql / 'data'}", "--user=root",
                                     f"--socket={mysql / 'mysqld.sock'}", f"--port={config.MYSQL_PORT}",
                                     "--bind-address=127.0.0.1", "--skip-grant-tables", "--max-connections=1000",
                                     f"--pid-file={mysql / 'mysqld.pid'}", "--innodb-flush-log-at-trx-commit=0",
                                     "--skip-log-bin"], port=("127.0.0.1", config.MYSQL_PORT)),
        services.Service("rabbitmq", [RABBITMQ_SERVER], rabbit, ("127.0.0.1", config.RABBIT_PORT)),
    ]


def _apis(cloud: Cloud) -> list[services.Service]:
    def env(service: str, var: str) -> dict[str, str]:
        return {var: str(cloud.etc(service))}

    return [
        services.wsgi(cloud, "placement-api", "placement.wsgi.api", config.PORTS["placement"], [],
                      env("placement", "OS_PLACEMENT_CONFIG_DIR")),
        services.wsgi(cloud, "glance-api", "glance.wsgi.api", config.PORTS["glance"], [],
                      env("glance", "OS_GLANCE_CONFIG_DIR")),
        services.wsgi(cloud, "nova-api", "nova.wsgi.osapi_compute", config.PORTS["nova"], [],
                      env("nova", "OS_NOVA_CONFIG_DIR")),
        services.wsgi(cloud, "neutron-api", "neutron.wsgi.api", config.PORTS["neutron"], _conf(cloud, "neutron"), {}),
        services.wsgi(cloud, "cinder-api", "cinder.wsgi.api", config.PORTS["cinder"], _conf(cloud, "cinder"), {}),
        services.wsgi(cloud, "octavia-api", "octavia.wsgi.api", config.PORTS["octavia"], _conf(cloud, "octavia"), {}),
    ] + [services.Service(name, [str(cloud.venv / "bin" / name), *_conf(cloud, name.split("-")[0])])
         for name in ("nova-conductor", "nova-scheduler", "nova-compute", "neutron-rpc-server",
                      "neutron-periodic-workers", "cinder-scheduler", "cinder-volume", "octavia-worker")]


def _databases(cloud: Cloud) -> None:
    statements = "".join(f"CREATE DATABASE {name} CHARACTER SET utf8;" for name in config.DATABASES)
    proc = subprocess.run(["mariadb", "--no-defaults", "-h127.0.0.1", f"-P{config.MYSQL_PORT}", "-uroot", "-e",
                           statements], capture_output=True, text=True, check=False, timeout=120)
    if proc.returncode != 0:
        raise services.ServiceError(f"creating the databases failed: {proc.stderr.strip()}")


def _schemas(cloud: Cloud) -> None:
    """Every service's schema, in parallel (each is its own process)."""
    nova = _conf(cloud, "nova")
    cell1 = ["nova-manage", *nova, "cell_v2", "create_cell", "--name", "cell1"]

    def keystone() -> None:
        conf = _conf(cloud, "keystone")
        _run(cloud, "keystone-manage", *conf, "db_sync")
        for what in ("fernet_setup", "credential_setup"):
            _run(cloud, "keystone-manage", *conf, what, "--keystone-user", "root", "--keystone-group", "root")

    def nova_dbs() -> None:
        _run(cloud, "nova-manage", *nova, "api_db", "sync")
        _run(cloud, "nova-manage", *nova, "cell_v2", "map_cell0", "--database_connection", config.db("nova_cell0"))
        _run(cloud, *cell1)
        _run(cloud, "nova-manage", *nova, "db", "sync")

    jobs = [keystone, nova_dbs,
            lambda: _run(cloud, "glance-manage", *_conf(cloud, "glance"), "db_sync"),
            lambda: _run(cloud, "placement-manage", *_conf(cloud, "placement"), "db", "sync"),
            lambda: _run(cloud, "neutron-db-manage", *_conf(cloud, "neutron"), "upgrade", "heads"),
            lambda: _run(cloud, "cinder-manage", *_conf(cloud, "cinder"), "db", "sync"),
            lambda: _run(cloud, "octavia-db-manage", *_conf(cloud, "octavia"), "upgrade", "head")]
    with ThreadPoolExecutor(len(jobs)) as pool:
        for future in [pool.submit(job) for job in jobs]:
            future.result()


def _facts(cloud: Cloud, timeout: float) -> dict[str, Any]:
    return {"auth_url": cloud.auth_url, "region": config.REGION, "admin_password": config.ADMIN_PASSWORD,
            "service_password": config.SERVICE_PASSWORD, "services": list(config.SERVICES),
            "urls": {name: cloud.url(name) for name in config.PORTS}, "project": PROJECT, "user": USER,
            "user_password": USER_PASSWORD, "flavor": FLAVOR, "image": IMAGE, "keypair": KEYPAIR,
            "timeout": timeout}


def _write_clouds(cloud: Cloud) -> Path:
    def entry(user: str, password: str, project: str) -> dict[str, Any]:
        return {"auth": {"auth_url": cloud.auth_url, "username": user, "password": password,
                         "project_name": project, "user_domain_name": "Default", "project_domain_name": "Default"},
                "region_name": config.REGION, "interface": "public", "identity_api_version": 3}

    path = clouds_yaml()
    path.write_text(yaml.safe_dump({"clouds": {CLOUD: entry(USER, USER_PASSWORD, PROJECT),
                                               f"{CLOUD}-admin": entry("admin", config.ADMIN_PASSWORD, "admin")}}))
    path.chmod(0o600)
    return path


@contextmanager
def _exclusive() -> Iterator[None]:
    """One `up`, `down` or `session` at a time on this machine (they share the state folder and the ports)."""
    install.root().mkdir(parents=True, exist_ok=True)
    with (install.root() / "lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("… waiting: another session uses the test cloud", file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def session(timeout: float = 600) -> Iterator[Path]:
    """The cloud started fresh, kept for the block and stopped after it; another session waits meanwhile."""
    with _exclusive():
        try:
            yield _up(timeout)
        finally:
            services.stop_all(install.root())


def up(timeout: float = 600) -> Path:
    """The cloud started from fresh state (any earlier run stopped first); its clouds.yaml."""
    with _exclusive():
        return _up(timeout)


def _up(timeout: float) -> Path:
    venv = install.ensure()
    from testenv.stack import host

    host.ensure_dockerd()
    with step("stop an earlier test cloud, wipe its state"):
        services.stop_all(install.root())
        state = install.root() / "state"
        shutil.rmtree(state, ignore_errors=True)
        (state / "mysql" / "data").mkdir(parents=True)
        (state / "rabbitmq" / "mnesia").mkdir(parents=True)
        (state / "rabbitmq" / "enabled_plugins").write_text("[].\n")
    cloud = Cloud(state, venv, network.kind_gateway(), f"test-compute-{int(time.time())}")
    log = state / "log"
    with step(f"configuration for an OpenStack on {cloud.host}"):
        config.write_all(cloud)
        certs.write(state / "octavia" / "certs")
        for service in config.WRITERS:
            (state / service / "lock").mkdir(parents=True, exist_ok=True)
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={state / 'mysql' / 'data'}",
                        "--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"],
                       capture_output=True, check=True, timeout=300)
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(group: list[services.Service], what: str) -> None:
        with step(what):
            procs.update({s.name: services.start(install.root(), log, s) for s in group})
            services.wait(procs, group, log, timeout)

    epmd, *infrastructure = _infrastructure(cloud)
    start([epmd], "start epmd (RabbitMQ's port mapper, on loopback)")
    start(infrastructure, "start MariaDB and RabbitMQ")
    with step("databases and schemas"):
        _databases(cloud)
        _schemas(cloud)
    with step("keystone bootstrap"):
        _run(cloud, "keystone-manage", *_conf(cloud, "keystone"), "bootstrap", "--bootstrap-password",
             config.ADMIN_PASSWORD, "--bootstrap-region-id", config.REGION,
             "--bootstrap-public-url", cloud.auth_url, "--bootstrap-internal-url", cloud.auth_url)
    keystone = services.wsgi(cloud, "keystone-api", "keystone.wsgi.api", config.PORTS["keystone"], [],
                             {"OS_KEYSTONE_CONFIG_DIR": str(cloud.etc("keystone")),
                              "OS_KEYSTONE_CONFIG_FILES": "keystone.conf"})
    start([keystone], "start keystone")
    facts = json.dumps(_facts(cloud, timeout))
    with step("seed identity: service users, catalog, the test project and user"):
        _run(cloud, "python", str(SEED), "identity", stdin=facts)
    start(_apis(cloud), "start placement, glance, nova, neutron, cinder, octavia")
    with step("seed a flavor, an image, an external network, a keypair; discover the compute host"):
        seed_facts().write_text(_run(cloud, "python", str(SEED), "resources", stdin=facts))
    return _write_clouds(cloud)


def down() -> list[str]:
    """Stop the cloud's processes by their recorded PIDs; the names that were running."""
    with _exclusive():
        return services.stop_all(install.root())


def answering() -> bool:
    """Whether a cloud started by `up` runs: its clouds.yaml is there and its keystone answers."""
    if not clouds_yaml().exists() or not seed_facts().exists():
        return False
    auth_url = yaml.safe_load(clouds_yaml().read_text())["clouds"][CLOUD]["auth"]["auth_url"]
    try:
        with urllib.request.urlopen(auth_url, timeout=5):
            return True
    except OSError:
        return False


def seeded() -> dict[str, Any]:
    """What `up` seeded: project, flavor, image and external network ids, the keypair's name."""
    facts: dict[str, Any] = json.loads(seed_facts().read_text())
    return facts
