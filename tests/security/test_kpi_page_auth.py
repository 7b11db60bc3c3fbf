"""Attacks on the KPI page: with Airflow's login on, a stranger gets nothing from it.

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
import urllib.request
from pathlib import Path

import pytest

from image_mlops.config import Settings
from image_mlops_dev.stack.manager import LocalStack
from image_mlops_dev.stack.processes import free_port

pytestmark = [pytest.mark.stack]

USER = "reviewer"


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
    settings = Settings.from_env({**os.environ, "IMAGE_MLOPS_AIRFLOW_LOGIN": "true"})
    env = LocalStack(settings).airflow_environment()
    passwords = folder / "passwords.json"
    env.update(
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:viewer",
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
        yield base, json.loads(passwords.read_text())[USER]
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
        log.close()


def _token(base: str, password: str) -> str:
    request = urllib.request.Request(
        f"{base}/auth/token",
        data=json.dumps({"username": USER, "password": password}).encode(),
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
    base, password = login_api_server
    bearer = {"Authorization": f"Bearer {_token(base, password)}"}
    status, _, body = _get(f"{base}/image-mlops/api/kpis?hours=6&period=3600", bearer)
    assert status == 200, body[:500]
    assert {"classes", "latest", "alarms", "deployed", "errors"} <= set(json.loads(body))
    for query in ("hours=100000", "hours=0", "period=1", "period=90", "period=10000000"):
        assert _get(f"{base}/image-mlops/api/kpis?{query}", bearer)[0] == 422, query
        assert _get(f"{base}/image-mlops/?{query}", bearer)[0] == 422, query


def test_a_logged_in_user_sees_the_page_in_chromium(login_api_server, test_output):
    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        pytest.skip("chromium not installed: apt-get install -y chromium (CI must install it)")
    from playwright.sync_api import sync_playwright

    base, password = login_api_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.goto(f"{base}/image-mlops/?hours=6&period=3600")
            assert "/auth/login" in page.url  # anonymous: Airflow's login page, not the KPIs
            assert "Model KPIs" not in page.content()
            # log in through Airflow's own form; it sends the browser back to the page
            page.get_by_label("Username").fill(USER)
            page.get_by_label("Password").fill(password)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_url(f"{base}/image-mlops/**", timeout=60_000)
            assert page.locator("h1").inner_text().startswith("Model KPIs")
            page.screenshot(path=str(test_output / "kpi_page_logged_in.png"), full_page=True)
        finally:
            browser.close()


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
