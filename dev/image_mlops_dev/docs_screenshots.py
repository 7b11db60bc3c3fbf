"""``make docs-screenshots``: the documentation's pictures of the Airflow UI, the approval
waiting for a person, the KPI page and the Review page, taken by headless Chromium from the
running local stack (after ``make demo``, which leaves version 2 waiting for its approval).

Chromium is the system's (``apt-get install chromium``), driven by Playwright's protocol
client; no browser is downloaded. The pictures go to ``docs/img/screenshots/``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from image_mlops.config import PROJECT_ROOT

OUT = PROJECT_ROOT / "docs" / "img" / "screenshots"
#: (file name, path on the api-server, full page?)
PAGES = (
    ("airflow-dags.png", "/dags", False),
    ("deploy-model-runs.png", "/dags/deploy_model", False),
    ("approval-waiting.png", "/required_actions", False),
    ("kpi-page.png", "/image-mlops/", True),
    ("review-page.png", "/image-mlops/review", False),
)
#: The flags a headless Chromium needs on a machine without a display or outside network.
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def take(base_url: str, out: Path = OUT, settle_ms: int = 2500) -> list[Path]:
    from playwright.sync_api import sync_playwright

    browser_path = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser_path is None:
        raise SystemExit("chromium is needed: apt-get install chromium")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 860})
            for name, path, full_page in PAGES:
                page.goto(base_url + path, wait_until="networkidle", timeout=60_000)
                if full_page:  # below the fold, lazy images would stay blank
                    page.evaluate(
                        "document.querySelectorAll('img[loading=lazy]')"
                        ".forEach(img => { img.loading = 'eager'; })"
                    )
                    page.wait_for_function(
                        "Array.from(document.images).every(img => img.complete)",
                        timeout=120_000,
                    )
                page.wait_for_timeout(settle_ms)  # the UI's own requests and rendering
                target = out / name
                page.screenshot(path=str(target), full_page=full_page)
                written.append(target)
                print(f"{target.relative_to(PROJECT_ROOT)}  ← {path}", flush=True)
        finally:
            browser.close()
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=None, help="the api-server (default: the local stack)")
    args = parser.parse_args(argv)
    from image_mlops_dev.stack.settings import get_stack_settings

    take((args.url or get_stack_settings().airflow_api_url).rstrip("/"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
