"""T1: a Certificate that cert-manager backed off after its key race (cert-manager#6331) is issued again at once.

The real cert-manager the stack runs (v1.11.5, built from its module) reconciles on the twin. The race itself
cannot be made to happen on demand, so the test writes the status cert-manager's issuing controller writes when
the self-signed issuer refuses the request ("CSR not signed by referenced private key"), before cert-manager
starts; cert-manager then holds the Certificate for its one-hour backoff, which `renew_stuck` must end.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cluster_init import bootstrap, certificates, follow
from cluster_init.bootstrap import on
from cluster_init.kube import KubeConfig
from cluster_init.kube.status import condition
from testenv.stack import gobuild
from testenv.stack.controllers import cert_manager
from tests.t1.conftest import Cluster

pytestmark = pytest.mark.t1

CERTS = "/apis/cert-manager.io/v1/namespaces/{ns}/certificates"
RACE_MESSAGE = ("The certificate request has failed to complete and will be retried: Error generating certificate "
                "template: CSR not signed by referenced private key")


def certificate(name: str) -> dict[str, Any]:
    return {"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": {"name": name},
            "spec": {"secretName": f"{name}-tls", "dnsNames": [f"{name}.example"],
                     "issuerRef": {"kind": "Issuer", "name": "selfsigned"}}}


def failed(cert: dict[str, Any], message: str = RACE_MESSAGE) -> dict[str, Any]:
    """`cert` (as read) with the status cert-manager's issuing controller leaves after a failed request, 10 s ago."""
    ago = (dt.datetime.now(dt.UTC) - dt.timedelta(seconds=10)).strftime("%Y-%m-%dT%H:%M:%SZ")
    cert["status"] = {"lastFailureTime": ago, "failedIssuanceAttempts": 1, "conditions": [
        {"type": "Issuing", "status": "False", "reason": "Failed", "message": message, "lastTransitionTime": ago,
         "observedGeneration": cert["metadata"]["generation"]}]}
    return cert


@pytest.fixture
def stuck(cluster: Cluster, namespace: str) -> Iterator[str]:
    """A self-signed Issuer, a Certificate backed off after the race and one after another failure; cert-manager
    running."""
    cluster.client.request("POST", f"/apis/cert-manager.io/v1/namespaces/{namespace}/issuers", {
        "apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": {"name": "selfsigned"},
        "spec": {"selfSigned": {}}})
    for name, message in (("raced", RACE_MESSAGE), ("refused", "The certificate request has failed to complete "
                                                   "and will be retried: the issuer refused it")):
        created = cluster.client.request("POST", CERTS.format(ns=namespace), certificate(name))
        cluster.client.request("PUT", f"{CERTS.format(ns=namespace)}/{name}/status", failed(created, message))
    binary = gobuild.ensure(next(c.binary for c in cert_manager() if c.binary.name == "cert-manager-controller"))
    proc = subprocess.Popen([str(binary), f"--kubeconfig={cluster.control_plane.kubeconfig}", "--leader-elect=false",
                             f"--namespace={namespace}", "--controllers=issuers,certificaterequests-approver,"
                             "certificaterequests-issuer-selfsigned,certificates-trigger,certificates-issuing,"
                             "certificates-key-manager,certificates-request-manager,certificates-readiness"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield namespace
    finally:
        proc.kill()
        proc.wait()


def _get(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    cert: dict[str, Any] = cluster.client.request("GET", f"{CERTS.format(ns=ns)}/{name}")
    return cert


def _until(what: str, check: Any, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, f"{what} not within {seconds:.0f}s"
        time.sleep(0.2)


def test_the_raced_certificate_is_issued_again_and_no_other(cluster: Cluster, stuck: str) -> None:
    # cert-manager has read it (its readiness controller reports the missing Secret) and leaves it backed off
    _until("cert-manager's Ready condition", lambda: condition(_get(cluster, stuck, "raced"), "Ready") is not None)
    assert (condition(_get(cluster, stuck, "raced"), "Issuing") or {}).get("status") == "False"

    said: list[str] = []
    renewed = on(KubeConfig.load(cluster.control_plane.kubeconfig),
                 lambda c: certificates.renew_stuck(c, said.append))

    assert renewed == [f"{stuck}/raced"]
    assert len(said) == 1 and f"Certificate {stuck}/raced" in said[0] and "cert-manager#6331" in said[0]
    _until("the raced Certificate Ready",
           lambda: (condition(_get(cluster, stuck, "raced"), "Ready") or {}).get("status") == "True")
    cluster.client.request("GET", f"/api/v1/namespaces/{stuck}/secrets/raced-tls")
    refused = _get(cluster, stuck, "refused")
    assert (condition(refused, "Issuing") or {}).get("reason") == "Failed"  # another failure is cert-manager's own
    assert refused["status"]["failedIssuanceAttempts"] == 1


def test_nothing_is_renewed_where_nothing_raced(cluster: Cluster, namespace: str) -> None:
    cluster.client.request("POST", CERTS.format(ns=namespace), certificate("fresh"))
    assert on(KubeConfig.load(cluster.control_plane.kubeconfig),
              lambda c: certificates.renew_stuck(c, print)) == []


def test_bootstrap_renews_while_it_follows_the_units(cluster: Cluster, namespace: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    """The bootstrap cluster's side: `bootstrap` renews while it follows (here until its deadline: no units)."""
    created = cluster.client.request("POST", CERTS.format(ns=namespace), certificate("raced"))
    cluster.client.request("PUT", f"{CERTS.format(ns=namespace)}/raced/status", failed(created))
    config = KubeConfig.load(cluster.control_plane.kubeconfig)
    options = bootstrap.Options(kind_name=None, kubeconfig=cluster.control_plane.kubeconfig, source="local",
                                namespace=namespace, timeout=3, output="plain")

    assert bootstrap._follow(config, options) == follow.TIMED_OUT

    assert f"warning: Certificate {namespace}/raced: cert-manager failed its issuance" in capsys.readouterr().err
    issuing = condition(_get(cluster, namespace, "raced"), "Issuing") or {}
    assert (issuing.get("status"), issuing.get("reason")) == ("True", "ManuallyTriggered")
