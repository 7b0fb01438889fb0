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


class Pki:
    """Paths of the files written by `generate`."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.ca_crt, self.ca_key = directory / "ca.crt", directory / "ca.key"
        self.serving_crt, self.serving_key = directory / "serving.crt", directory / "serving.key"
        self.admin_crt, self.admin_key = directory / "admin.crt", directory / "admin.key"
        self.sa_key, self.sa_pub = directory / "sa.key", directory / "sa.pub"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.touch(mode=0o600)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def _cert(
    subject: x509.Name,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name,
    issuer_key: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    usages: tuple[x509.ObjectIdentifier, ...] = (),
    san: list[x509.GeneralName] | None = None,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
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
    if usages:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _name(cn: str, org: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if org:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    return x509.Name(attrs)


def generate(directory: Path, cluster: str) -> Pki:
    """Write a CA, an apiserver serving cert, an admin (system:masters) client cert and SA signing keys."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    pki = Pki(directory)
    pem = serialization.Encoding.PEM

    ca_key, ca_name = _key(), _name(f"cluster-init-twin-ca-{cluster}")
    ca = _cert(ca_name, ca_key, ca_name, ca_key, ca=True)
    _write_key(pki.ca_key, ca_key)
    pki.ca_crt.write_bytes(ca.public_bytes(pem))

    san: list[x509.GeneralName] = [x509.DNSName(d) for d in SERVING_DNS]
    san += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in SERVING_IPS]
    serving_key = _key()
    serving = _cert(
        _name("kube-apiserver"),
        serving_key,
        ca_name,
        ca_key,
        usages=(ExtendedKeyUsageOID.SERVER_AUTH,),
        san=san,
    )
    _write_key(pki.serving_key, serving_key)
    pki.serving_crt.write_bytes(serving.public_bytes(pem))

    admin_key = _key()
    admin = _cert(
        _name("cluster-init-admin", "system:masters"),
        admin_key,
        ca_name,
        ca_key,
        usages=(ExtendedKeyUsageOID.CLIENT_AUTH,),
    )
    _write_key(pki.admin_key, admin_key)
    pki.admin_crt.write_bytes(admin.public_bytes(pem))

    sa_key = _key()
    _write_key(pki.sa_key, sa_key)
    pki.sa_pub.write_bytes(
        sa_key.public_key().public_bytes(pem, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return pki
