"""Main-image downloads over http against a local http.server on 127.0.0.1, and helpers."""

from __future__ import annotations

import http.server
import ipaddress
import threading
import time

import pytest

from image_mlops import s3layout
from image_mlops.catalog.extract import ProductRow, chunked, rows_from_jsonl, rows_to_jsonl
from image_mlops.catalog.images import (
    REASONS,
    DownloadError,
    FetchPolicy,
    extension_for,
    fetch_image,
)
from image_mlops.catalog.sql import load_sql, sql_path

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200


class Handler(http.server.BaseHTTPRequestHandler):
    hits: dict[str, int] = {}

    def log_message(self, *args):  # keep test output quiet
        pass

    def _send(self, status, body=b"", content_type="image/png", length=True):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = self.path
        Handler.hits[path] = Handler.hits.get(path, 0) + 1
        if path == "/ok.png":
            self._send(200, PNG, "image/png; charset=binary")
        elif path == "/page.html":
            self._send(200, b"<html></html>", "text/html")
        elif path == "/big.png":
            self._send(200, b"x" * 5000)
        elif path == "/big-undeclared.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            for _ in range(10):
                self.wfile.write(b"y" * 1000)
            self.close_connection = True
        elif path == "/slow.png":
            time.sleep(1.5)
            self._send(200, PNG)
        elif path == "/dribble.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", "400")
            self.end_headers()
            for _ in range(8):
                self.wfile.write(b"z" * 50)
                self.wfile.flush()
                time.sleep(0.25)
        elif path == "/flaky.png":
            if Handler.hits[path] < 3:
                self._send(503, b"busy", "text/plain")
            else:
                self._send(200, PNG)
        elif path == "/empty.png":
            self._send(200, b"")
        elif path == "/forbidden.png":
            self._send(403, b"no", "text/plain")
        else:
            self._send(404, b"missing", "text/plain")


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


#: the test server is on the loopback, which the downloader refuses unless allowed
LOOPBACK_SERVER = FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


def fetch(url, *, timeout=1.0, max_bytes=1000, retries=0, sleeps=None):
    return fetch_image(
        url,
        timeout=timeout,
        max_bytes=max_bytes,
        retries=retries,
        policy=LOOPBACK_SERVER,
        backoff=0.01,
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
    )


def reason_of(url, **kwargs):
    with pytest.raises(DownloadError) as info:
        fetch(url, **kwargs)
    assert info.value.reason in REASONS
    return info.value.reason


def test_downloads_an_image(server):
    image = fetch(f"{server}/ok.png")
    assert image.body == PNG
    assert image.content_type == "image/png"
    assert image.extension == "png"
    assert image.attempts == 1


def test_rejects_a_non_image_content_type(server):
    assert reason_of(f"{server}/page.html") == "not_an_image_content_type"


def test_size_cap_with_and_without_content_length(server):
    assert reason_of(f"{server}/big.png", max_bytes=1000) == "too_large"
    assert reason_of(f"{server}/big-undeclared.png", max_bytes=1000) == "too_large"
    assert fetch(f"{server}/big.png", max_bytes=5000).body == b"x" * 5000


def test_timeouts_are_retried_then_recorded(server):
    Handler.hits.pop("/slow.png", None)
    sleeps: list[float] = []
    assert reason_of(f"{server}/slow.png", timeout=0.3, retries=2, sleeps=sleeps) == "timeout"
    assert sleeps == [0.01, 0.02]  # exponential backoff between the three attempts


def test_a_slow_dribble_hits_the_total_timeout(server):
    assert reason_of(f"{server}/dribble.png", timeout=0.6) == "timeout"


def test_server_errors_are_retried(server):
    Handler.hits.pop("/flaky.png", None)
    image = fetch(f"{server}/flaky.png", retries=2)
    assert image.attempts == 3 and image.body == PNG
    Handler.hits.pop("/flaky.png", None)
    assert reason_of(f"{server}/flaky.png", retries=1) == "http_error"


def test_client_errors_are_not_retried(server):
    Handler.hits.pop("/nothing.png", None)
    assert reason_of(f"{server}/nothing.png", retries=3) == "not_found"
    assert Handler.hits["/nothing.png"] == 1
    assert reason_of(f"{server}/forbidden.png", retries=3) == "http_error"


def test_empty_body_and_bad_urls(server):
    assert reason_of(f"{server}/empty.png") == "empty_body"
    assert reason_of("ftp://example.com/a.jpg") == "unsupported_url_scheme"
    assert reason_of("file:///etc/passwd") == "unsupported_url_scheme"
    assert reason_of("images/a.jpg") == "unsupported_url_scheme"
    port = server.rsplit(":", 1)[1]
    # nothing listens on port 1 of the loopback: refused at once
    assert reason_of(server.replace(port, "1") + "/a.png") == "connection_error"
    with pytest.raises(DownloadError) as info:
        fetch_image("s3://bucket-only", timeout=1, max_bytes=10, retries=0, s3=object())
    assert info.value.reason == "invalid_url"


def test_extensions_and_keys():
    assert extension_for("image/jpeg") == "jpg"
    assert extension_for("image/svg+xml") == "svg"
    assert extension_for("image/x-portable-pixmap") == "xportablep"  # sanitised, at most 10 chars
    assert s3layout.catalog_image_key(7, "jpg") == "incoming/product-7.jpg"
    assert s3layout.catalog_text_key(7) == "catalog/texts/product-7.txt"
    assert s3layout.catalog_chunk_key("manual__2026-01-01T00:00:00+00:00", 3) == (
        "catalog/manual__2026-01-01T00_00_00_00_00/chunks/part-00003.jsonl"
    )


def test_chunks_and_jsonl_round_trip():
    rows = [ProductRow(i, f"t{i}", None if i % 2 else f"s3://b/{i}", "é") for i in range(7)]
    chunks = list(chunked(iter(rows), 3))
    assert [len(c) for c in chunks] == [3, 3, 1]
    assert rows_from_jsonl(rows_to_jsonl(rows)) == rows


def test_sql_files_load_by_name_only():
    assert load_sql("extract_products").lstrip().startswith("--")
    assert "ORDER BY p.id" in load_sql("extract_products")
    with pytest.raises(ValueError):
        sql_path("../secrets")
    with pytest.raises(FileNotFoundError):
        load_sql("no_such_query")
