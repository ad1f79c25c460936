"""Pinned connections over TLS: the TCP connection goes to the checked IP, while the server
name (SNI) and the certificate check are for the URL's hostname."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.net.pinned import Pinning, pinned_client
from tests.app.net.origin import PUBLIC, Answers, RoutedNetwork, running, status

HOST = "media.example"


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(
    subject: str, issuer: str, key: ec.EllipticCurvePrivateKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )


def make_tls(tmp_path: Path, server_name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """(server context with a certificate for `server_name`, client context trusting its CA)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        _certificate("test CA", "test CA", ca_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        _certificate(server_name, "test CA", key)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(server_name)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "leaf.pem", tmp_path / "leaf.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


class TlsOrigin:
    """An HTTPS server on 127.0.0.1 that notes the server names (SNI) it was asked for."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.names: list[str | None] = []
        self.hosts: list[str] = []
        context.sni_callback = self._sni
        self._context = context
        self.port = 0

    def _sni(self, sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        self.names.append(name)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
            self.hosts += [
                line[5:].strip() for line in head.split("\r\n") if line[:5].lower() == "host:"
            ]
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> TlsOrigin:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self._context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


@pytest.fixture
def network() -> RoutedNetwork:
    return RoutedNetwork()


async def test_tls_is_for_the_hostname_while_the_connection_goes_to_the_checked_ip(
    tmp_path: Path, network: RoutedNetwork
) -> None:
    server, client_context = make_tls(tmp_path, HOST)
    pinning = Pinning(Answers([PUBLIC]), allow_private=False, setting="[test] allow")
    async with TlsOrigin(server) as origin:
        client = pinned_client(pinning, network=network, ssl_context=client_context)
        async with client:
            response = await client.get(f"https://{HOST}:{origin.port}/")
    assert response.text == "ok"
    assert network.connects == [(PUBLIC, origin.port)]
    assert origin.names == [HOST]
    assert origin.hosts == [f"{HOST}:{origin.port}"]


async def test_a_certificate_for_another_name_is_refused(
    tmp_path: Path, network: RoutedNetwork
) -> None:
    server, client_context = make_tls(tmp_path, "other.example")
    pinning = Pinning(Answers([PUBLIC]), allow_private=False, setting="[test] allow")
    async with TlsOrigin(server) as origin:
        client = pinned_client(pinning, network=network, ssl_context=client_context)
        async with client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await client.get(f"https://{HOST}:{origin.port}/")


async def test_a_refused_connection_does_not_keep_the_pools_only_slot(
    network: RoutedNetwork,
) -> None:
    async def dns(host: str) -> list[str]:
        return ["10.0.0.8"] if host == "bad.example" else [PUBLIC]

    pinning = Pinning(dns, allow_private=False, setting="[test] allow")
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with (
        running(ok=status(200)) as origin,
        pinned_client(pinning, limits=limits, network=network) as client,
    ):
        for _ in range(3):
            with pytest.raises(ValueError, match=r"10\.0\.0\.8"):
                await client.get(f"http://bad.example:{origin.port}/ok")
        response = await client.get(f"http://good.example:{origin.port}/ok")
    assert response.status_code == 200
    assert network.connects == [(PUBLIC, origin.port)]
