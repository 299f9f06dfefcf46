from __future__ import annotations

import ipaddress
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from storefleet.dev.kubeconfig import write_kubeconfig
from storefleet.dev.pki import Authority


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_a_serving_certificate_is_signed_by_the_ca_for_its_hosts(tmp_path: Path) -> None:
    authority = Authority(tmp_path)
    pair = authority.issue(
        "apiserver", common_name="kube-apiserver", hosts=("127.0.0.1", "localhost"), server=True
    )
    cert, ca = load(pair.cert), load(authority.ca.cert)
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usages) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_a_client_certificate_carries_the_identity_kubernetes_reads(tmp_path: Path) -> None:
    authority = Authority(tmp_path)
    pair = authority.issue("admin", common_name="alice", organization="system:masters")
    subject = load(pair.cert).subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "alice"
    assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "system:masters"
    assert oct(pair.key.stat().st_mode & 0o777) == "0o600"


def test_certificates_are_issued_once_and_reused(tmp_path: Path) -> None:
    first = Authority(tmp_path).issue("admin", common_name="alice").cert.read_bytes()
    again = Authority(tmp_path).issue("admin", common_name="alice").cert.read_bytes()
    assert first == again


def test_a_kubeconfig_embeds_what_a_client_needs(tmp_path: Path) -> None:
    authority = Authority(tmp_path)
    pair = authority.issue("admin", common_name="alice")
    path = write_kubeconfig(
        tmp_path / "kubeconfig",
        server="https://127.0.0.1:16443",
        ca=authority.ca.cert,
        client=pair,
        user="admin",
    )
    config = yaml.safe_load(path.read_text())
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:16443"
    assert config["users"][0]["user"]["client-key-data"]
    assert config["current-context"] == "storefleet-dev"
    assert oct(path.stat().st_mode & 0o777) == "0o600"
