"""Attacks through the product catalogue: a hostile image URL in a catalogue row.

The downloader runs on a worker inside the network. Before the fix it followed any URL and
any redirect — to the loopback (the emulator, the Airflow API), private ranges, the instance
metadata service — read any ``s3://`` object the worker's role could (a model artifact would
be copied into ``incoming/``), let a slow server hold it past its timeout, and wrote a URL's
credentials into logs and the manifest. The servers here are real sockets on 127.0.0.1.
"""

from __future__ import annotations

import http.server
import ipaddress
import json
import logging
import threading
import time

import pytest

from image_mlops import s3layout
from image_mlops.catalog.extract import ProductRow
from image_mlops.catalog.images import DownloadError, FetchPolicy, fetch_image
from image_mlops.catalog.pipeline import process_product
from image_mlops.config import Settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
LOOPBACK_ONLY = FetchPolicy(allowed_networks=(ipaddress.ip_network("127.0.0.1/32"),))


class Server(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []
    drip_sent = 0
    drip_total = 200
    other_port = 0

    def log_message(self, *args):
        pass

    def do_GET(self):
        Server.hits.append(self.path)
        if self.path == "/ok.png":
            self._answer(200, PNG, "image/png")
        elif self.path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/iam/security-credentials/")
        elif self.path == "/to-other-loopback":
            self._redirect(f"http://127.0.0.2:{Server.other_port}/ok.png")
        elif self.path == "/to-file":
            self._redirect("file:///etc/passwd")
        elif self.path.startswith("/loop"):
            self._redirect(f"/loop{len(Server.hits)}")
        elif self.path == "/relative":
            self._redirect("/ok.png")
        elif self.path == "/drip.png":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(Server.drip_total))
            self.end_headers()
            try:
                for _ in range(Server.drip_total):
                    self.wfile.write(b"z")
                    self.wfile.flush()
                    Server.drip_sent += 1
                    time.sleep(0.2)
            except OSError:
                pass  # the client gave up: what the test wants
        else:
            self._answer(404, b"missing", "text/plain")

    def _answer(self, status, body, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location):
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Server)
    Server.other_port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def _reason(url, policy=None, **kwargs) -> DownloadError:
    with pytest.raises(DownloadError) as info:
        fetch_image(
            url,
            timeout=kwargs.pop("timeout", 2.0),
            max_bytes=kwargs.pop("max_bytes", 10_000),
            retries=0,
            policy=policy,
            **kwargs,
        )
    return info.value


def test_loopback_is_refused_before_any_connection(server):
    Server.hits.clear()
    port = server.rsplit(":", 1)[1]
    for url in (
        f"{server}/ok.png",
        f"http://localhost:{port}/ok.png",
        f"http://[::1]:{port}/ok.png",
        f"http://[::ffff:127.0.0.1]:{port}/ok.png",
        f"http://0.0.0.0:{port}/ok.png",
    ):
        assert _reason(url).reason == "blocked_address", url
    assert Server.hits == [], "the downloader connected to a refused address"
    # the same server is reachable when the user allows its network (an internal host)
    assert (
        fetch_image(
            f"{server}/ok.png", timeout=2, max_bytes=10_000, retries=0, policy=LOOPBACK_ONLY
        ).body
        == PNG
    )


@pytest.mark.parametrize(
    "address",
    [
        "169.254.169.254",
        "10.0.0.7",
        "172.16.1.1",
        "192.168.1.1",
        "100.64.0.1",
        "224.0.0.1",
        "240.0.0.1",
        "[fe80::1]",
        "[fc00::1]",
    ],
)
def test_link_local_private_multicast_and_reserved_addresses_are_refused(address):
    error = _reason(f"http://{address}/latest/meta-data/")
    assert error.reason == "blocked_address"


def test_every_redirect_hop_is_checked_again(server):
    assert _reason(f"{server}/to-metadata", LOOPBACK_ONLY).reason == "blocked_address"
    # 127.0.0.2 is loopback but outside the allowed 127.0.0.1/32
    assert _reason(f"{server}/to-other-loopback", LOOPBACK_ONLY).reason == "blocked_address"
    assert _reason(f"{server}/to-file", LOOPBACK_ONLY).reason == "unsupported_url_scheme"
    image = fetch_image(
        f"{server}/relative", timeout=2, max_bytes=10_000, retries=0, policy=LOOPBACK_ONLY
    )
    assert image.body == PNG


def test_redirects_are_capped(server):
    Server.hits.clear()
    policy = FetchPolicy(LOOPBACK_ONLY.allowed_networks, max_redirects=3)
    assert _reason(f"{server}/loop", policy).reason == "too_many_redirects"
    assert len(Server.hits) == 4  # the first request and three redirects, no more


def test_a_slow_drip_cannot_hold_the_download_past_its_deadline(server):
    Server.drip_sent = 0
    error = _reason(f"{server}/drip.png", LOOPBACK_ONLY, timeout=1.0)
    assert error.reason == "timeout"
    # every byte came well within the read timeout, yet the download ended at its deadline,
    # while the server was still dripping (the whole body takes 40 s)
    assert Server.drip_sent < Server.drip_total // 2


def test_s3_urls_outside_the_allowed_prefixes_are_refused(clean_aws, settings):
    s3 = clean_aws.s3
    artifact = "attack-tests/model.tar.gz"  # (registered versions' paths are write-once)
    s3.put_object(Bucket=settings.models_bucket, Key=artifact, Body=PNG, ContentType="image/png")
    media = s3layout.catalog_media_key("product-1-0.jpg")
    s3.put_object(Bucket=settings.raw_bucket, Key=media, Body=PNG, ContentType="image/png")
    hostile = ProductRow(9001, "hostile", f"s3://{settings.models_bucket}/{artifact}", None)
    record = process_product(hostile, settings, s3)
    assert (record["status"], record["reason"]) == ("failed", "s3_not_allowed")
    dotted = ProductRow(
        9002, "dotted", f"s3://{settings.raw_bucket}/catalog-media/../{artifact}", None
    )
    assert process_product(dotted, settings, s3)["reason"] == "s3_not_allowed"
    assert clean_aws.keys(settings.raw_bucket, "incoming/") == []
    # the sample catalogue's own pictures are allowed by default
    sample = ProductRow(9003, "sample", f"s3://{settings.raw_bucket}/{media}", None)
    assert process_product(sample, settings, s3)["status"] == "stored"
    # and a user can allow another location
    allowed = Settings.from_env(
        {"IMAGE_MLOPS_CATALOG_S3_ALLOWED_PREFIXES": f"s3://{settings.models_bucket}/attack-tests/"}
    )
    FetchPolicy.from_settings(allowed).check_s3(settings.models_bucket, artifact)  # no error


def test_credentials_and_query_strings_stay_out_of_logs_reasons_and_manifests(
    server, caplog, monkeypatch
):
    monkeypatch.setenv("IMAGE_MLOPS_CATALOG_ALLOWED_NETWORKS", "127.0.0.1/32")
    local = Settings.from_env()
    host = server.removeprefix("http://")
    rows = [
        ProductRow(1, "creds", f"http://scott:tiger-pw@{host}/missing.png?token=sekret-tok", None),
        ProductRow(
            2, "blocked", "http://admin:hunter2@169.254.169.254/?X-Amz-Signature=sig-x", None
        ),
        ProductRow(3, "scheme", "ftp://ftpuser:ftp-pw@example.com/a.png", None),
    ]
    # INFO, Airflow's task log level (urllib3's DEBUG lines show request lines as sent)
    caplog.set_level(logging.INFO)

    class NoS3:
        def put_object(self, **_):
            raise AssertionError("nothing is stored for these rows")

    records = [process_product(row, local, NoS3()) for row in rows]
    assert [r["reason"] for r in records] == [
        "not_found",
        "blocked_address",
        "unsupported_url_scheme",
    ]
    recorded = json.dumps(records) + caplog.text
    for secret in ("tiger-pw", "sekret-tok", "hunter2", "sig-x", "ftp-pw", "scott", "admin:"):
        assert secret not in recorded, secret
    assert records[0]["image_url"] == f"http://***@{host}/missing.png?…"
