"""TLS for the emulator: a local certificate authority, and HTTPS and HTTP on one port.

AWS's endpoints answer HTTPS (and S3 plain HTTP too); a bucket policy can refuse requests
that did not come over TLS (``aws:SecureTransport``). So the emulator serves TLS with a
server certificate of a local CA the stack generates (``ca.pem``, which the AWS connection
trusts through its ``verify`` extra and the containers through ``AWS_CA_BUNDLE``), and tells
each connection's scheme from its first byte: a TLS handshake starts with a ``handshake``
record (0x16), anything else is plain HTTP. ``aws:SecureTransport`` is then what it is on
AWS: ``true`` for a request that came over TLS, ``false`` otherwise.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
import ssl
from pathlib import Path
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

CA_FILE, CERT_FILE, KEY_FILE = "ca.pem", "server.pem", "server-key.pem"
_TLS_HANDSHAKE = 0x16
#: A client that connects and says nothing is not waited for longer than this.
_FIRST_BYTE_TIMEOUT = 30.0


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def ensure_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """The local CA's certificate and the server's certificate and key in ``folder``,
    generated on first use: (ca.pem, server.pem, server-key.pem). The server certificate
    names ``127.0.0.1`` and ``localhost``; the CA's key is not kept (nothing else is signed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_path, cert_path, key_path = folder / CA_FILE, folder / CERT_FILE, folder / KEY_FILE
    if ca_path.exists() and cert_path.exists() and key_path.exists():
        return ca_path, cert_path, key_path
    folder.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "image-mlops local CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    _write_private(
        key_path,
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    cert_path.write_bytes(server.public_bytes(pem))
    ca_path.write_bytes(ca.public_bytes(pem))
    return ca_path, cert_path, key_path


class _Handler(WSGIRequestHandler):
    """werkzeug's handler, with the scheme of this connection (not of the server)."""

    def make_environ(self) -> dict[str, Any]:
        environ = super().make_environ()
        environ["wsgi.url_scheme"] = (
            "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        )
        return environ


class TlsOrPlainServer(ThreadedWSGIServer):
    """werkzeug's threaded server (HTTP/1.1, keep-alive), TLS or plain per connection."""

    def __init__(self, host: str, port: int, app: Any, context: ssl.SSLContext) -> None:
        super().__init__(host, port, app, handler=_Handler)
        self.tls = context

    def finish_request(self, request: Any, client_address: Any) -> None:  # a worker thread
        request.settimeout(_FIRST_BYTE_TIMEOUT)
        try:
            first = request.recv(1, socket.MSG_PEEK)
            if not (first and first[0] == _TLS_HANDSHAKE):
                request.settimeout(None)
                super().finish_request(request, client_address)
                return
            # the TLS socket takes the connection over (the plain one is detached)
            secured = self.tls.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return  # a client that went away, or a failed handshake: nothing to answer
        try:
            secured.settimeout(None)
            super().finish_request(secured, client_address)
        finally:
            secured.close()


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context
