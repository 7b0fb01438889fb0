"""Fresh certificates and keys for one twin control plane (ECDSA P-256: instant to generate).

Stand-in for a cluster's PKI, for the hermetic test environment only.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SERVICE_IP = "10.96.0.1"  # first address of the service CIDR the apiserver is given
SERVING_DNS = [
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
]
SERVING_IPS = ["127.0.0.1", "::1", SERVICE_IP]
FRONT_PROXY_CLIENT = "front-proxy-client"  # the name the apiserver's --requestheader-allowed-names accepts

Key = ec.EllipticCurvePrivateKey


class Pki:
    """Paths of the files written by `generate` (each `.crt` has its `.key`)."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca_crt, self.ca_key = directory / "ca.crt", directory / "ca.key"
        self.serving_crt, self.serving_key = directory / "serving.crt", directory / "serving.key"
        self.admin_crt, self.admin_key = directory / "admin.crt", directory / "admin.key"
        self.front_proxy_ca_crt = directory / "front-proxy-ca.crt"
        self.front_proxy_crt = directory / "front-proxy-client.crt"
        self.front_proxy_key = directory / "front-proxy-client.key"
        self.sa_key, self.sa_pub = directory / "sa.key", directory / "sa.pub"


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def _issue(
    crt: Path,
    subject: x509.Name,
    issuer: tuple[x509.Name, Key] | None = None,
    usage: x509.ObjectIdentifier | None = None,
    san: list[x509.GeneralName] | None = None,
) -> tuple[x509.Name, Key]:
    """Write `crt` and its key (`.key`, mode 0600); self-signed CA when no issuer. Returns (subject, key)."""
    key = ec.generate_private_key(ec.SECP256R1())
    ca = issuer is None
    issuer_name, issuer_key = issuer or (subject, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=ca,
                crl_sign=ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    if usage:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    crt.write_bytes(builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    _write_key(crt.with_suffix(".key"), key)
    return subject, key


def _write_key(path: Path, key: Key) -> None:
    path.touch(mode=0o600)
    path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


def generate(directory: Path, cluster: str) -> Pki:
    """Write a CA, the apiserver serving cert, an admin (system:masters) client cert, a front-proxy
    (aggregation layer) CA and client cert, and the service-account signing key pair."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    pki = Pki(directory)
    ca = _issue(pki.ca_crt, _name(f"cluster-init-twin-ca-{cluster}"))
    san: list[x509.GeneralName] = [x509.DNSName(d) for d in SERVING_DNS]
    san += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVING_IPS]
    _issue(pki.serving_crt, _name("kube-apiserver"), ca, ExtendedKeyUsageOID.SERVER_AUTH, san)
    admin = _name("cluster-init-admin", "system:masters")
    _issue(pki.admin_crt, admin, ca, ExtendedKeyUsageOID.CLIENT_AUTH)
    front_ca = _issue(pki.front_proxy_ca_crt, _name(f"cluster-init-twin-front-proxy-ca-{cluster}"))
    _issue(pki.front_proxy_crt, _name(FRONT_PROXY_CLIENT), front_ca, ExtendedKeyUsageOID.CLIENT_AUTH)

    sa_key = ec.generate_private_key(ec.SECP256R1())
    _write_key(pki.sa_key, sa_key)
    pub = sa_key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    pki.sa_pub.write_bytes(pub)
    return pki
