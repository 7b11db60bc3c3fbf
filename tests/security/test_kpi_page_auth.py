"""Attacks on the KPI and Review pages: with Airflow's login on, a stranger gets nothing from
them, a viewer may look but not label, and a labeller's decisions carry their name.

Airflow does not authenticate a plugin's FastAPI app by itself: before the fix, with
``simple_auth_manager_all_admins`` off, ``/api/v2/dags`` said 401 while ``/image-mlops/`` and
``/image-mlops/api/kpis`` answered anyone. These tests run a second api-server on the session's
database with real login (``IMAGE_MLOPS_AIRFLOW_LOGIN=true``, what a user turns on) and try
the page anonymously, with bad parameters, and as a logged-in user in headless Chromium.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from image_mlops.config import Settings
from image_mlops_dev.stack.manager import LocalStack
from image_mlops_dev.stack.processes import free_port
from image_mlops_dev.stack.settings import StackSettings

pytestmark = [pytest.mark.stack]

USER = "reviewer"  # role viewer: may look at both pages
LABELLER = "labeller"  # role user: may post review decisions


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {}), timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def login_api_server(airflow_db, tmp_path_factory):
    """An api-server of the session's Airflow with login required (everyone-admin off)."""
    folder = tmp_path_factory.mktemp("login-api-server")
    port = free_port()
    login = StackSettings.from_env({**os.environ, "IMAGE_MLOPS_AIRFLOW_LOGIN": "true"})
    env = LocalStack(Settings.from_env(), login).airflow_environment()
    passwords = folder / "passwords.json"
    env.update(
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer,{LABELLER}:user",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
        }
    )
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "False"
    airflow = str(Path(sys.executable).parent / "airflow")
    log = open(folder / "api-server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [airflow, "api-server", "--port", str(port), "--host", "127.0.0.1"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None, (folder / "api-server.log").read_text()[-3000:]
            try:
                if _get(f"{base}/api/v2/monitor/health")[0] == 200 and passwords.exists():
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the login api-server did not start"
            time.sleep(1)
        yield base, json.loads(passwords.read_text())
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def _token(base: str, passwords: dict, user: str = USER) -> str:
    request = urllib.request.Request(
        f"{base}/auth/token",
        data=json.dumps({"username": user, "password": passwords[user]}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["access_token"]


def test_anonymous_requests_are_refused(login_api_server):
    base, _ = login_api_server
    assert _get(f"{base}/api/v2/dags")[0] == 401  # Airflow's own API, for comparison
    status, _, body = _get(f"{base}/image-mlops/api/kpis")
    assert status == 401
    assert b"classes" not in body
    status, headers, body = _get(f"{base}/image-mlops/?hours=6")
    assert status == 303, body[:300]
    assert "/auth/login" in headers["location"] and "next=" in headers["location"]
    assert b"Model KPIs" not in body
    # a forged token is no better than none
    assert _get(f"{base}/image-mlops/api/kpis", {"Authorization": "Bearer forged.jwt.x"})[0] in (
        401,
        403,
    )


def test_a_logged_in_user_gets_the_api_and_parameters_are_bounded(login_api_server):
    base, passwords = login_api_server
    bearer = {"Authorization": f"Bearer {_token(base, passwords)}"}
    status, _, body = _get(f"{base}/image-mlops/api/kpis?hours=6&period=3600", bearer)
    assert status == 200, body[:500]
    assert {"classes", "latest", "alarms", "deployed", "errors"} <= set(json.loads(body))
    for query in ("hours=100000", "hours=0", "period=1", "period=90", "period=10000000"):
        assert _get(f"{base}/image-mlops/api/kpis?{query}", bearer)[0] == 422, query
        assert _get(f"{base}/image-mlops/?{query}", bearer)[0] == 422, query


@contextmanager
def _chromium_page():
    """A page of headless Chromium (Playwright driving the system's browser)."""
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        pytest.skip("chromium not installed: apt-get install -y chromium (CI must install it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            yield browser.new_page()
        finally:
            browser.close()


def _log_in(page, user: str, password: str) -> None:
    """Airflow's own login form (it sends the browser back to the page it came from)."""
    page.get_by_label("Username").fill(user)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_logged_in_user_sees_the_page_in_chromium(login_api_server, test_output):
    base, passwords = login_api_server
    with _chromium_page() as page:
        page.goto(f"{base}/image-mlops/?hours=6&period=3600")
        assert "/auth/login" in page.url  # anonymous: Airflow's login page, not the KPIs
        assert "Model KPIs" not in page.content()
        _log_in(page, USER, passwords[USER])
        page.wait_for_url(f"{base}/image-mlops/**", timeout=60_000)
        assert page.locator("h1").inner_text().startswith("Model KPIs")
        page.screenshot(path=str(test_output / "kpi_page_logged_in.png"), full_page=True)


def test_a_failure_behind_the_page_shows_no_exception_text(monkeypatch):
    """CloudWatch unreachable: the page says so in a sentence; the error's text (hosts,
    ports, accounts) stays in the server log."""
    from fastapi.testclient import TestClient

    from image_mlops.ui import app as ui

    dead = free_port()
    connection = json.loads(os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    connection["extra"]["endpoint_url"] = f"http://127.0.0.1:{dead}"
    connection["extra"]["config_kwargs"] = {"retries": {"max_attempts": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(connection))
    ui.app.dependency_overrides[ui.monitor_reader_page] = lambda: None
    try:
        html = TestClient(ui.app).get("/?hours=1&period=300").text
    finally:
        ui.app.dependency_overrides.clear()
    assert "are unavailable right now" in html
    assert str(dead) not in html
    assert "EndpointConnectionError" not in html and "Could not connect" not in html


# --- the Review page --------------------------------------------------------------------------

REVIEW_VERSION = 9_000_001  # the newest model version in the session: the page shows its images


def _post(url: str, fields: dict[str, str], headers: dict[str, str]) -> tuple[int, dict, bytes]:
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(
        url,
        data=data,
        method="POST",
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=60) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.fixture(scope="module")
def review_queue(local_stack):
    """Three classified images of the newest model version, waiting for a reviewer."""
    import hashlib
    import io
    import uuid

    from classify_fixtures import insert_classified
    from conftest import delete_labelled
    from PIL import Image

    from image_mlops.aws import aws_client
    from image_mlops.config import get_settings
    from image_mlops.labels import events

    settings = get_settings()
    s3 = aws_client("s3", settings)
    tag = uuid.uuid4().hex[:8]
    rows, images = [], []
    for n, (predicted, colour) in enumerate((("mug", "red"), ("book", "blue"), ("mug", "green"))):
        out = io.BytesIO()
        Image.new("RGB", (64, 48), colour).save(out, "JPEG")
        body = out.getvalue()
        sha = hashlib.sha256(body).hexdigest()
        output_key = f"predictions/_uncertain/{tag}-{n}.jpg"
        s3.put_object(
            Bucket=settings.output_bucket, Key=output_key, Body=body, Metadata={"sha256": sha}
        )
        source_key = f"incoming/{tag}-{n}.jpg"
        rows.append((sha, REVIEW_VERSION, source_key, output_key, predicted, 0.4, True))
        images.append({"sha": sha, "source_key": source_key, "output_key": output_key})
    for label in ("book", "mug"):  # the classes are in the labelled area
        out = io.BytesIO()
        Image.new("RGB", (40, 40), (len(label) * 30, 10, 10)).save(out, "PNG")
        s3.put_object(
            Bucket=settings.validated_bucket,
            Key=f"labeled/{label}/{tag}-upload.png",
            Body=out.getvalue(),
        )
    insert_classified(settings, rows)
    try:
        yield settings, images
    finally:
        events.pg_hook(settings).run(
            "DELETE FROM predictions WHERE model_version = %s", parameters=(REVIEW_VERSION,)
        )
        delete_labelled(settings, tag)


def test_the_review_page_lets_only_labellers_post_and_only_from_itself(
    login_api_server, review_queue
):
    base, passwords = login_api_server
    settings, images = review_queue
    first = images[0]
    form = {
        "count": "1",
        "id-0": "attack-1",
        "sha-0": first["sha"],
        "key-0": first["source_key"],
        "label-0": "book",
    }
    # anonymous: the login page for a browser, 401 for a post
    status, headers, _ = _get(f"{base}/image-mlops/review")
    assert status == 303 and "/auth/login" in headers["location"]
    assert _get(f"{base}/image-mlops/review/thumbnail?key={first['output_key']}")[0] == 303
    assert _post(f"{base}/image-mlops/review", form, {})[0] == 401
    # a viewer may look (page and thumbnails) but not label
    viewer = {"Authorization": f"Bearer {_token(base, passwords)}"}
    status, _, body = _get(f"{base}/image-mlops/review", viewer)
    assert status == 200 and first["sha"].encode() in body
    status, headers, thumb = _get(
        f"{base}/image-mlops/review/thumbnail?key={first['output_key']}", viewer
    )
    assert status == 200 and headers["content-type"] == "image/jpeg" and thumb[:2] == b"\xff\xd8"
    assert _post(f"{base}/image-mlops/review", form, viewer)[0] == 403
    # thumbnails are classified images only: not the models, manifests or anything else
    for key in ("_work/x.json", "predictions/_manifests/run.jsonl", "predictions/../models/x"):
        assert _get(f"{base}/image-mlops/review/thumbnail?key={key}", viewer)[0] == 404, key
    # a labeller may post, but not from another site's page, and only a class we train
    labeller = {"Authorization": f"Bearer {_token(base, passwords, LABELLER)}"}
    evil = {**labeller, "Origin": "https://evil.example"}
    assert _post(f"{base}/image-mlops/review", form, evil)[0] == 403
    status, _, body = _post(f"{base}/image-mlops/review", {**form, "label-0": "sofa"}, labeller)
    assert status == 422 and b"'sofa' is not a class" in body
    from image_mlops.labels import events

    recorded = events.pg_hook(settings).get_records(
        "SELECT count(*) FROM label_events WHERE image_sha256 = %s", parameters=(first["sha"],)
    )
    assert recorded[0][0] == 0, "no refused post recorded anything"


def test_a_labeller_reviews_with_the_keyboard_in_chromium(
    login_api_server, review_queue, test_output
):
    """Log in, label three images with the keyboard only (2, 1, 0 = skip; Ctrl+Enter), and the
    two decisions become labelled images with the labeller's name on their events."""
    from image_mlops.labels import events, ingest
    from image_mlops.training.dataset import list_labeled

    base, passwords = login_api_server
    settings, images = review_queue
    with _chromium_page() as page:
        page.goto(f"{base}/image-mlops/review")
        _log_in(page, LABELLER, passwords[LABELLER])
        page.wait_for_url(f"{base}/image-mlops/review**", timeout=60_000)
        assert page.locator("h1").inner_text().startswith("Review")
        cards = page.locator(".card")
        assert cards.count() == 3
        # every thumbnail loaded through the authenticated page
        page.wait_for_function(
            "Array.from(document.querySelectorAll('.card img'))"
            ".every(i => i.complete && i.naturalWidth > 0)"
        )
        order = [cards.nth(i).locator("input[name^=sha-]").input_value() for i in range(3)]
        # classes in order: 1 book, 2 mug; the first card has the focus
        page.keyboard.press("2")
        page.keyboard.press("1")
        page.keyboard.press("0")
        page.screenshot(path=str(test_output / "review_page.png"), full_page=True)
        page.keyboard.press("Control+Enter")
        page.wait_for_url("**/review?saved=2", timeout=30_000)
        assert "Saved 2 new decisions" in page.locator("#saved").inner_text()
        assert page.locator(".card").count() == 1  # the skipped image is still waiting
    rows = events.pg_hook(settings).get_records(
        "SELECT image_sha256, label, actor, source FROM label_events "
        "WHERE image_sha256 = ANY(%s) ORDER BY id",
        parameters=([i["sha"] for i in images],),
    )
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [
        (order[0], "mug", LABELLER, "review"),
        (order[1], "book", LABELLER, "review"),
    ]
    ingest.ingest(settings)
    labelled = {i["sha256"]: i for i in list_labeled(settings)}
    assert labelled[order[0]]["label"] == "mug" and labelled[order[0]]["source"] == "review"
    assert labelled[order[1]]["label"] == "book"
    assert order[2] not in labelled
