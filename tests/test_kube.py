"""T0: cluster_init.kube, the one door to a cluster: kubeconfigs (read and written), failing fast on an address
nothing listens on, readiness, and a watch that resumes and relists."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from cluster_init.kube import Client, KubeConfig, KubeconfigError, Resource, RetryPolicy, Unreachable
from cluster_init.kube import config as kubeconfig
from cluster_init.kube.status import CURRENT, FAILED, IN_PROGRESS, TERMINATING, readiness
from cluster_init.kube.watch import Event, watch
from tests.conftest import Result

pytestmark = pytest.mark.t0

JSON = dict[str, Any]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the socket goes: nothing listens there


def config_doc(server: str, user: JSON | None = None, cluster: JSON | None = None) -> JSON:
    return {"apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": server, **(cluster or {})}}],
            "users": [{"name": "u", "user": user or {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}


def write(path: Path, doc: Any) -> Path:
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc))
    return path


# -- failing fast, in one line ---------------------------------------------------------------------------------


def test_a_closed_port_fails_at_once_in_one_line(cli: Callable[..., Result], tmp_path: Path) -> None:
    a, b = closed_port(), closed_port()
    source = write(tmp_path / "a", config_doc(f"https://127.0.0.1:{a}"))
    target = write(tmp_path / "b", config_doc(f"https://127.0.0.1:{b}"))
    started = time.monotonic()
    result = cli("pivot", "--from-kubeconfig", str(source), "--to-kubeconfig", str(target))
    assert time.monotonic() - started < 5
    assert result.code == 1
    assert result.err.splitlines() == [f"error: pivot not started: cannot reach https://127.0.0.1:{a}: connection "
                                       "refused; is the cluster running, and is the kubeconfig's server address right?"]


def test_an_unreached_server_is_not_retried() -> None:
    async def go() -> None:
        config = KubeConfig(f"https://127.0.0.1:{closed_port()}", "c", "k")
        async with Client(config, retry=RetryPolicy(deadline=60)) as client:
            with pytest.raises(Unreachable):
                await client.request("GET", "/version")
            assert client.stats.retries == 0

    asyncio.run(asyncio.wait_for(go(), 5))


BAD_KUBECONFIGS = {
    "not a mapping": "- a\n- b\n",
    "not YAML": "clusters: [\n",
    "clusters not a list": "clusters: 5\ncurrent-context: c\n",
    "entry without a name": yaml.safe_dump({"clusters": [{"cluster": {"server": "https://h"}}]}),
    "cluster not a mapping": yaml.safe_dump({**config_doc("https://h"), "clusters": [{"name": "c", "cluster": 7}]}),
    "server not a string": yaml.safe_dump(config_doc("https://h", cluster={"server": ["x"]})),
    "bad base64": yaml.safe_dump(config_doc("https://h", cluster={"certificate-authority-data": "!!!"})),
    "CA data not PEM": yaml.safe_dump(config_doc("https://h", cluster={
        "certificate-authority-data": base64.b64encode(b"-----BEGIN CERTIFICATE-----\nxx\n").decode()})),
    "client key not a key": yaml.safe_dump(config_doc("https://h", user={
        "client-certificate-data": base64.b64encode(b"junk").decode(),
        "client-key-data": base64.b64encode(b"junk").decode()})),
    "exec without command": yaml.safe_dump(config_doc("https://h", user={"exec": {"args": ["x"]}})),
    "exec that fails": yaml.safe_dump(config_doc("https://h", user={"exec": {"command": "false"}})),
    "invalid UTF-8": b"\xff\xfe\x00clusters",
}


@pytest.mark.parametrize("text", BAD_KUBECONFIGS.values(), ids=BAD_KUBECONFIGS.keys())
def test_a_bad_kubeconfig_is_one_line_and_exit_2(cli: Callable[..., Result], tmp_path: Path,
                                                 text: str | bytes) -> None:
    bad = tmp_path / "bad"
    if isinstance(text, bytes):
        bad.write_bytes(text)
    else:
        bad.write_text(text)
    good = write(tmp_path / "good", config_doc(f"https://127.0.0.1:{closed_port()}"))
    result = cli("pivot", "--from-kubeconfig", str(bad), "--to-kubeconfig", str(good), "--dry-run")
    assert result.code == 2, result.err
    assert len(result.err.splitlines()) == 1, result.err
    assert result.err.startswith("error: ") and str(bad) in result.err
    assert "Traceback" not in result.err


# -- reading and writing ----------------------------------------------------------------------------------------


def test_kubeconfig_lists_merge_as_kubectl_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = write(tmp_path / "1", {"current-context": "c", "contexts": [{"name": "c", "context": {"cluster": "x"}}],
                                   "clusters": [{"name": "x", "cluster": {"server": "https://first/"}}]})
    second = write(tmp_path / "2", {"current-context": "other",
                                    "contexts": [{"name": "d", "context": {"cluster": "x"}}],
                                    "clusters": [{"name": "x", "cluster": {"server": "https://second"}}]})
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)]))
    config = KubeConfig.load()
    assert (config.context, config.server) == ("c", "https://first")
    assert KubeConfig.load(context="d").server == "https://first"  # the first file naming cluster x wins


def test_exec_credential_plugins(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin"
    plugin.write_text("#!/bin/sh\necho \"$KUBERNETES_EXEC_INFO\" > info.json\n"
                      "printf '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
                      "\"status\":{\"token\":\"%s\"}}' \"$TOKEN\"\n")
    plugin.chmod(0o755)
    path = write(tmp_path / "k", config_doc("https://h", user={"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": "./plugin", "env": [{"name": "TOKEN",
                                                                                         "value": "s3cr3t"}]}}))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        config = KubeConfig.load(path)
        assert config.token is None
        assert config.resolved().token == "s3cr3t"
    finally:
        os.chdir(cwd)
    assert json.loads((tmp_path / "info.json").read_text())["kind"] == "ExecCredential"
    plugin.write_text("#!/bin/sh\necho 'no credentials for you' >&2\nexit 3\n")
    with pytest.raises(KubeconfigError, match=r"the exec plugin plugin failed \(exit 3\): no credentials for you"):
        KubeConfig.load(path).resolved()


def test_written_kubeconfigs_are_private_and_whole(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "kubeconfig"
    kubeconfig.write(path, config_doc("https://one"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.chmod(0o644)
    kubeconfig.write(path, config_doc("https://two"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert KubeConfig.load(path).server == "https://two"
    assert [p.name for p in path.parent.iterdir()] == ["kubeconfig"]  # no temporary file left


# -- readiness --------------------------------------------------------------------------------------------------


def cond(kind: str, status: str, message: str = "") -> JSON:
    return {"type": kind, "status": status, "message": message}


@pytest.mark.parametrize(("obj", "state"), [
    ({"kind": "ConfigMap", "metadata": {}}, CURRENT),
    ({"kind": "K", "metadata": {"generation": 2}, "status": {"observedGeneration": 1,
                                                             "conditions": [cond("Ready", "True")]}}, IN_PROGRESS),
    ({"kind": "K", "metadata": {"generation": 2}, "status": {"observedGeneration": 2,
                                                             "conditions": [cond("Ready", "True")]}}, CURRENT),
    ({"kind": "K", "metadata": {}, "status": {"conditions": [cond("Ready", "False", "waiting")]}}, IN_PROGRESS),
    ({"kind": "K", "metadata": {}, "status": {"conditions": [cond("Reconciling", "True"),
                                                             cond("Ready", "Unknown")]}}, IN_PROGRESS),
    ({"kind": "K", "metadata": {}, "status": {"conditions": [cond("Stalled", "True", "gave up"),
                                                             cond("Ready", "False")]}}, FAILED),
    ({"kind": "K", "metadata": {"deletionTimestamp": "now"}}, TERMINATING),
    ({"kind": "CustomResourceDefinition", "metadata": {}, "status": {"conditions": [cond("Established", "True")]}},
     CURRENT),
    ({"kind": "Deployment", "metadata": {}, "spec": {"replicas": 2},
      "status": {"updatedReplicas": 2, "availableReplicas": 1}}, IN_PROGRESS),
])
def test_readiness(obj: JSON, state: str) -> None:
    assert readiness(obj).state == state


# -- watch ------------------------------------------------------------------------------------------------------


def cm(name: str, version: str) -> JSON:
    return {"metadata": {"name": name, "namespace": "n", "resourceVersion": version}}


def test_watch_resumes_from_the_last_version_and_relists_on_410() -> None:
    """List (a@1, b@1) -> watch from 1: a@2 modified, then the stream ends -> watch from 2: 410 Gone -> relist
    (a@2, c@3): b was deleted meanwhile and c added."""
    requests: list[dict[str, str]] = []
    lists = [[cm("a", "1"), cm("b", "1")], [cm("a", "2"), cm("c", "3")]]

    async def handler(request: web.Request) -> web.StreamResponse:
        query = dict(request.query)
        requests.append(query)
        if query.get("watch") != "true":
            items = lists.pop(0)
            return web.json_response({"kind": "ConfigMapList", "metadata": {"resourceVersion": "9"},
                                      "items": items})
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        if query.get("resourceVersion") == "9":
            await response.write(json.dumps({"type": "MODIFIED", "object": cm("a", "2")}).encode() + b"\n")
        else:
            await response.write(json.dumps({"type": "ERROR", "object": {"kind": "Status", "code": 410}}).encode()
                                 + b"\n")
        await response.write_eof()
        return response

    async def go() -> list[tuple[str, str]]:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/n/configmaps", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        seen: list[tuple[str, str]] = []
        try:
            async with Client(KubeConfig(f"http://127.0.0.1:{port}", "c", "k")) as client:
                events: AsyncIterator[Event] = watch(client, Resource("v1", "ConfigMap", "configmaps", True, False),
                                                     "n")
                async for event in events:
                    seen.append((event.type, event.object["metadata"]["name"]))
                    if len(seen) == 5:
                        break
        finally:
            await runner.cleanup()
        return seen

    seen = asyncio.run(asyncio.wait_for(go(), 10))
    assert seen == [("ADDED", "a"), ("ADDED", "b"), ("MODIFIED", "a"), ("ADDED", "c"), ("DELETED", "b")]
    watches = [r for r in requests if r.get("watch")]
    assert [w.get("resourceVersion") for w in watches] == ["9", "2"]
