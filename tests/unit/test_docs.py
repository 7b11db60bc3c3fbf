"""The documentation site: a strict build, the generated reference, a short README."""

from __future__ import annotations

import html
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from image_mlops.config import describe_settings
from image_mlops_dev.docs_hooks import EMPTY, command_names

ROOT = Path(__file__).resolve().parents[2]
README_LIMIT = 250


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    return out


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text()))


def test_the_settings_reference_is_every_setting_with_its_default(site):
    text = _text(site / "reference" / "settings" / "index.html")
    for variable, default, _doc in describe_settings():
        shown = default if default != "" else EMPTY.strip("*")
        assert re.search(rf"{re.escape(variable)}\s+{re.escape(shown)}\s", text), variable


def test_the_cli_reference_has_every_command_and_its_help(site):
    text = _text(site / "reference" / "cli" / "index.html")
    names = command_names()
    assert {"image-mlops stack up", "image-mlops train", "image-mlops predict"} <= set(names)
    for name in names:
        assert f"usage: {name}" in text, name
    assert "--executor {local,celery}" in text


def test_every_page_of_the_site_is_in_its_navigation(site):
    pages = {p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")}
    nav = (ROOT / "mkdocs.yml").read_text()
    assert {p for p in pages if p not in nav} == set()


def test_the_readme_is_short_and_its_links_exist():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_LIMIT
    assert "make demo" in readme and "make test" in readme
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", readme)
    assert targets
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert missing == []
    assert "../shared" not in readme  # nothing outside the repository
