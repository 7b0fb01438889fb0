"""The certificates octavia's worker loads even with no-op amphorae: a CA and a client certificate."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], capture_output=True, check=True, timeout=60)


def write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ca, key = folder / "ca.pem", folder / "ca.key"
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=test-cloud-octavia-ca",
             "-keyout", str(key), "-out", str(ca))
    client_key, csr, client = folder / "client.key", folder / "client.csr", folder / "client.crt"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test-cloud-octavia-client",
             "-keyout", str(client_key), "-out", str(csr))
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca), "-CAkey", str(key), "-CAcreateserial", "-days", "30",
             "-out", str(client))
    (folder / "client.pem").write_text(client.read_text() + client_key.read_text())
