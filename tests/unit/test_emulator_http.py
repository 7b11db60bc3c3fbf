"""The emulator's request parsing gives moto exactly what the standard parser gives it.

Each raw request is parsed twice by the emulator's request handler: with ``http.server``'s
own ``parse_request`` (headers through the ``email`` feed parser) and with ours (plain header
blocks read straight from the buffer); everything moto's application sees is compared:
the handler's attributes, the headers, the WSGI environ werkzeug and moto build from them,
the interim response, and what is left to read (the body).
"""

from __future__ import annotations

import io
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from moto.moto_server.werkzeug_app import MotoRequestHandler

from image_mlops.stack.emulator_http import plain_request, request_handler

SDK_GET = (
    b"GET /image-mlops-validated/incoming/img%20001.jpg HTTP/1.1\r\n"
    b"Host: 127.0.0.1:5055\r\n"
    b"Accept-Encoding: identity\r\n"
    b"x-amz-checksum-mode: ENABLED\r\n"
    b"User-Agent: Boto3/1.40.0 md/Botocore#1.40.0 ua/2.1 os/linux#6.1\r\n"
    b"X-Amz-Date: 20261127T120000Z\r\n"
    b"X-Amz-Content-SHA256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\r\n"
    b"Authorization: AWS4-HMAC-SHA256 Credential=test/20261127/us-east-1/s3/aws4_request, "
    b"SignedHeaders=host;x-amz-checksum-mode;x-amz-content-sha256;x-amz-date, "
    b"Signature=0123456789abcdef\r\n"
    b"amz-sdk-invocation-id: 3f1c-11\r\n"
    b"amz-sdk-request: attempt=1\r\n"
    b"\r\n"
)

#: Requests the plain path reads itself.
PLAIN = {
    "sdk get": SDK_GET,
    "copy with an empty body": (
        b"PUT /out/predictions/mug/a.jpg HTTP/1.1\r\nHost: h\r\n"
        b'x-amz-copy-source: in/incoming/a.jpg\r\nx-amz-copy-source-if-match: "e1"\r\n'
        b"Content-Length: 0\r\n\r\n"
    ),
    "put with a body and expect 100-continue": (
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
        b"Content-Type: image/jpeg\r\n\r\nhello"
    ),
    "json protocol post": (
        b"POST / HTTP/1.1\r\nHost: h\r\nX-Amz-Target: SageMaker.ListModelPackages\r\n"
        b"Content-Type: application/x-amz-json-1.1\r\nContent-Length: 2\r\n\r\n{}"
    ),
    "http/1.0 keep-alive": b"GET /b/k HTTP/1.0\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
    "http/1.0": b"GET /b/k HTTP/1.0\r\nHost: h\r\n\r\n",
    "http/1.1 close": b"GET /b/k HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
    "blanks around values": b"GET /b/k HTTP/1.1\r\nHost:\t  h \r\nX-Empty:\r\nX-Sp: a  b \r\n\r\n",
    "repeated and underscored headers": (
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nx-amz-meta-a: 1\r\nx-amz-meta-a: 2\r\n"
        b"x-amz-meta-my_key: kept\r\nX_Forwarded: u\r\nContent-Length: 0\r\n\r\n"
    ),
    "double slash path": b"GET //b//k HTTP/1.1\r\nHost: h\r\n\r\n",
    "absolute target": b"GET http://127.0.0.1:5055/b/k?x-id=GetObject HTTP/1.1\r\nHost: h\r\n\r\n",
    "query string": b"GET /b?list-type=2&prefix=incoming%2F HTTP/1.1\r\nHost: h\r\n\r\n",
    "no headers": b"GET /b/k HTTP/1.1\r\n\r\n",
    "latin-1 value": b"GET /b/k HTTP/1.1\r\nHost: h\r\nX-Name: caf\xe9\r\n\r\n",
    "quoted unicode key": b"GET /b/incoming/%C3%BC%20x%2By.jpg HTTP/1.1\r\nHost: h\r\n\r\n",
    "raw unicode key": b"GET /b/incoming/\xc3\xbc.jpg HTTP/1.1\r\nHost: h\r\n\r\n",
    "fragment": b"GET /b/k%23x#frag?q=1 HTTP/1.1\r\nHost: h\r\n\r\n",
    "empty query": b"GET /b/k? HTTP/1.1\r\nHost: h\r\n\r\n",
    "content type and length twice": (
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nContent-Type: a/b\r\nContent-Type: c/d\r\n"
        b"Content-Length: 0\r\ncontent-length: 0\r\n\r\n"
    ),
    "chunked upload": (
        b"PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    ),
}

#: Requests left to the standard parser (and parsed exactly as before).
NOT_PLAIN = {
    "folded header": b"GET /b/k HTTP/1.1\r\nHost: h\r\nX-Long: a\r\n  b\r\n\r\n",
    "line without a colon": b"GET /b/k HTTP/1.1\r\nHost: h\r\nnot a header\r\nX-After: 1\r\n\r\n",
    "space in a name": b"GET /b/k HTTP/1.1\r\nHost: h\r\nX Bad: 1\r\n\r\n",
    "bare LF line ends": b"GET /b/k HTTP/1.1\r\nHost: h\nX-A: 1\n\r\n",
    "double space in the request line": b"GET  /b/k HTTP/1.1\r\nHost: h\r\n\r\n",
    "HTTP/2.0": b"GET /b/k HTTP/2.0\r\nHost: h\r\n\r\n",
    "HTTP/0.9": b"GET /b/k\r\n\r\n",
    "too many headers": b"GET /b/k HTTP/1.1\r\n" + b"X-H: 1\r\n" * 101 + b"\r\n",
}


def _standard_handler() -> type:
    """The emulator's request handler with the standard ``parse_request``."""

    class StandardParsing(request_handler()):
        parse_request = BaseHTTPRequestHandler.parse_request
        make_environ = MotoRequestHandler.make_environ

    return StandardParsing


class _Server:
    server_address = ("127.0.0.1", 5055)
    multithread = True
    multiprocess = False
    ssl_context = None


class _Chunks(io.RawIOBase):
    """A socket-like stream that returns at most ``size`` bytes per read."""

    def __init__(self, data: bytes, size: int) -> None:
        self._data, self._size = data, size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk, self._data = self._data[: self._size], self._data[self._size :]
        buffer[: len(chunk)] = chunk
        return len(chunk)


def _parse(handler_class: type, raw: bytes, chunk: int = 1 << 16) -> dict[str, Any]:
    """Everything a handler class makes of ``raw``, as far as moto's application sees it."""
    handler = handler_class.__new__(handler_class)
    handler.rfile = io.BufferedReader(_Chunks(raw, chunk))
    handler.wfile = io.BytesIO()
    handler.server = _Server()
    handler.client_address = ("127.0.0.1", 40000)
    handler.connection = object()  # no getpeercert: not TLS
    handler.request_version = handler.default_request_version
    handler.command = None
    handler.raw_requestline = handler.rfile.readline(65537)
    ok = handler.parse_request()
    outcome: dict[str, Any] = {"ok": ok, "written": handler.wfile.getvalue()}
    if ok:
        environ = handler.make_environ()
        environ.pop("werkzeug.socket")
        wsgi_input = environ.pop("wsgi.input")
        outcome.update(
            command=handler.command,
            path=handler.path,
            version=handler.request_version,
            requestline=handler.requestline,
            close=handler.close_connection,
            headers=list(handler.headers.items()),
            header_class=type(handler.headers),
            environ=environ,
            rest=wsgi_input.read(),
        )
    return outcome


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_a_plain_request_is_parsed_as_the_standard_parser_parses_it(name):
    raw = PLAIN[name]
    line, _, rest = raw.partition(b"\r\n")
    assert plain_request(line + b"\r\n", rest) is not None  # this one takes the plain path
    ours, theirs = _parse(request_handler(), raw), _parse(_standard_handler(), raw)
    assert ours == theirs
    assert ours["ok"]


@pytest.mark.parametrize("name", sorted(NOT_PLAIN))
def test_other_requests_are_left_to_the_standard_parser(name):
    raw = NOT_PLAIN[name]
    line, _, rest = raw.partition(b"\r\n")
    assert plain_request(line + b"\r\n", rest) is None
    assert _parse(request_handler(), raw) == _parse(_standard_handler(), raw)


@pytest.mark.parametrize("chunk", [1, 7, 64])
def test_a_header_block_not_yet_all_read_is_left_to_the_standard_parser(chunk):
    """The connection's buffer holds only part of the block: it is read line by line."""
    ours, theirs = _parse(request_handler(), SDK_GET, chunk), _parse(_standard_handler(), SDK_GET)
    assert ours == theirs
    assert ours["ok"] and len(ours["headers"]) == 9


def test_the_plain_path_reads_only_the_header_block():
    raw = PLAIN["put with a body and expect 100-continue"]
    line, _, rest = raw.partition(b"\r\n")
    method, target, version, pairs, length = plain_request(line + b"\r\n", rest)
    assert (method, target, version) == ("PUT", "/b/k", "HTTP/1.1")
    assert pairs[:2] == [("Host", "h"), ("Content-Length", "5")]
    assert rest[length:] == b"hello"


def test_an_sdk_requests_environ_is_built_without_werkzeug(monkeypatch):
    def not_called(self):
        raise AssertionError("werkzeug's make_environ was called for a plain SDK request")

    monkeypatch.setattr(MotoRequestHandler, "make_environ", not_called)
    for raw in (SDK_GET, PLAIN["copy with an empty body"], PLAIN["quoted unicode key"]):
        assert _parse(request_handler(), raw)["ok"]
