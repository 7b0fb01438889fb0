"""The haproxy image CAPD runs in front of each cluster's API servers, built from Debian's haproxy.

The bundle names it (upstreams.capd-load-balancer: `<image_registry>/haproxy:<version>`, CAPD's own
default). What CAPD v1.14 asks of it (test/infrastructure/docker/internal/docker and loadbalancer): it
starts the container with `haproxy -W -db -f /usr/local/etc/haproxy/haproxy.cfg`, so `haproxy` must be
on PATH and that file must start haproxy before any control plane exists; then it writes its own
config with `mkdir -p` and `cp /dev/stdin` (run in the container), reads it back with `cp`, and sends
SIGHUP, on which haproxy's master process reloads it. Debian's userland gives the `cp` and `mkdir`.
CAPD pulls it through the Docker engine it drives (the host's), where this build leaves it; it is also
pushed to the local registry with the other images.
"""

from __future__ import annotations

from pathlib import Path

from testenv.stack import images
from testenv.stack.host import lacks_sys_resource, stack_dir
from testenv.stack.versions import upstream

CONFIG_PATH = "/usr/local/etc/haproxy/haproxy.cfg"
# Enough for haproxy to start and listen; CAPD replaces it as soon as it knows the control-plane nodes.
START_CONFIG = """\
# Placeholder until Cluster API's Docker provider writes the real configuration and sends SIGHUP.
global
  maxconn 10000

defaults
  mode tcp
  timeout connect 5s
  timeout client 50s
  timeout server 50s

frontend control-plane
  bind *:6443
  default_backend kube-apiservers

backend kube-apiservers
"""
# This machine's fact (see host.lacks_sys_resource): containers cannot raise their open-file limit, and
# haproxy >= 2.3 refuses to start when it cannot raise it to what CAPD's `maxconn 100000` needs, unless
# told not to. A wrapper first on PATH adds that one setting as an extra config file; the master process
# keeps these arguments when it reloads on SIGHUP. Test stack only, never part of the product.
LIMITS_PATH = "/usr/local/etc/haproxy/limits.cfg"
LIMITS_CONFIG = "global\n  no strict-limits\n"
WRAPPER = f'#!/bin/sh\nexec /usr/sbin/haproxy -f {LIMITS_PATH} "$@"\n'


def tag() -> str:
    pin = upstream("capd-load-balancer")
    return f"{pin['image_registry']}/haproxy:{pin['version']}"


def _file(name: str, text: str) -> Path:
    path = stack_dir() / "haproxy" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


def image() -> str:
    """haproxy from Debian with the start config, tagged with the name the bundle gives CAPD."""
    files = {"haproxy.cfg": _file("haproxy.cfg", START_CONFIG)}
    dockerfile = f"FROM {images.rootfs_image(('haproxy',))}\nCOPY haproxy.cfg {CONFIG_PATH}\n"
    if lacks_sys_resource():
        files |= {"limits.cfg": _file("limits.cfg", LIMITS_CONFIG), "haproxy": _file("haproxy", WRAPPER)}
        dockerfile += f"COPY limits.cfg {LIMITS_PATH}\nCOPY haproxy /usr/local/sbin/haproxy\n"
    dockerfile += ("ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
                   f'ENTRYPOINT ["haproxy", "-W", "-db", "-f", "{CONFIG_PATH}"]\n')
    return images.build(tag(), dockerfile, files, modes={"haproxy": 0o755} if "haproxy" in files else None)
