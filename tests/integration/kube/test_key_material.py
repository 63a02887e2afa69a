"""Kubeconfig content with embedded certificates: mutual TLS works, and no key touches the disk.

The ``kubernetes`` libraries write ``certificate-authority-data`` / ``client-certificate-data`` /
``client-key-data`` to temp files kept until the interpreter exits; the provider serves them from
memory files instead (``kube/keyfiles.py``). The server here is a small HTTPS endpoint that demands
a client certificate signed by the kubeconfig's CA, reached through the real sync and async clients.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import ssl
import tempfile
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_ray_k8s.kube import request as rq
from airflow_ray_k8s.kube.aio import AsyncKubeClient
from airflow_ray_k8s.kube.client import KubeClient
from airflow_ray_k8s.kube.config import ConnectionSettings
from airflow_ray_k8s.kube.retry import NO_RETRY
from tests.integration.kube.json_http import JsonHandler

x509 = pytest.importorskip("cryptography.x509")
pytestmark = pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="memory files need Linux")


def _key() -> Any:
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _cert(subject: str, key: Any, issuer: tuple[str, Any] | None = None, *, ca: bool = False) -> Any:
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name, issuer_key = issuer or (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_name)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(obj: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    if hasattr(obj, "public_bytes"):
        return bytes(obj.public_bytes(serialization.Encoding.PEM))
    return bytes(
        obj.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


class _VersionHandler(JsonHandler):
    peers: list[Any]

    def do_GET(self) -> None:
        self.peers.append(self.connection.getpeercert())  # type: ignore[attr-defined]
        self.send_json({"major": "1", "minor": "30", "gitVersion": "v1.30.0"})


@pytest.fixture
def mtls(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """An HTTPS server requiring a client certificate, and kubeconfig content to reach it."""
    ca_key, server_key, client_key = _key(), _key(), _key()
    ca = _cert("test-ca", ca_key, ca=True)
    server_cert = _cert("server", server_key, ("test-ca", ca_key))
    client_cert = _cert("airflow", client_key, ("test-ca", ca_key))
    # The server's own files live outside the temp dir under watch.
    server_dir = tmp_path / "server"
    server_dir.mkdir()
    (server_dir / "ca.pem").write_bytes(_pem(ca))
    (server_dir / "server.pem").write_bytes(_pem(server_cert) + _pem(server_key))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(server_dir / "ca.pem"))
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_cert_chain(str(server_dir / "server.pem"))
    handler = type("Handler", (_VersionHandler,), {"peers": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "tls",
                "cluster": {
                    "server": f"https://127.0.0.1:{server.server_address[1]}",
                    "certificate-authority-data": b64(_pem(ca)),
                },
            }
        ],
        "users": [
            {
                "name": "tls",
                "user": {
                    "client-certificate-data": b64(_pem(client_cert)),
                    "client-key-data": b64(_pem(client_key)),
                },
            }
        ],
        "contexts": [{"name": "tls", "context": {"cluster": "tls", "user": "tls"}}],
        "current-context": "tls",
    }
    try:
        yield {
            "content": yaml.safe_dump(kubeconfig),
            "peers": handler.peers,
            "secrets": [_pem(client_key), _pem(client_cert), _pem(ca)],
        }
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def watched_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The temp dir every ``tempfile`` call of this process uses during the test."""
    watched = tmp_path / "tmp"
    watched.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(watched))
    return watched


def _files_with(root: Path, secrets: list[bytes]) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            if any(s in data or base64.b64encode(s) in data for s in secrets):
                found.append(str(path))
    return found


def _memory_files() -> list[str]:
    names = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if "memfd:airflow-ray-k8s" in target:
            names.append(target)
    return names


@pytest.mark.parametrize("flavour", ["sync", "async"])
async def test_embedded_certificates_never_reach_the_disk(
    mtls: dict[str, Any], watched_tmp: Path, flavour: str
) -> None:
    settings = ConnectionSettings(kube_config=mtls["content"], conn_id="tls")
    before = _memory_files()
    if flavour == "sync":
        with KubeClient(settings, retry_policy=NO_RETRY) as client:
            response = client.send(rq.server_version())
            held = _memory_files()
    else:
        async with AsyncKubeClient(settings, retry_policy=NO_RETRY) as aclient:
            response = await aclient.send(rq.server_version())
            held = _memory_files()
    assert response.json()["gitVersion"] == "v1.30.0"
    # Mutual TLS happened: the server verified our client certificate against the CA.
    assert mtls["peers"]
    assert dict(x[0] for x in mtls["peers"][0]["subject"])["commonName"] == "airflow"
    assert _files_with(watched_tmp, mtls["secrets"]) == []
    assert sorted(os.listdir(watched_tmp)) == []
    # The material lived in memory files while the client was open, and is released on close.
    assert len(held) - len(before) == 3
    assert _memory_files() == before
