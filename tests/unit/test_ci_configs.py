"""The CI configurations (AWS CodeBuild, GitHub Actions, .ci/run) run the README's command."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def _load(path: str) -> dict:
    data = yaml.safe_load((ROOT / path).read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


def _runs_make_test(command: str) -> bool:
    """True when a shell command line runs `make test` (with or without variables)."""
    for line in command.splitlines():
        words = shlex.split(line, comments=True)
        if words[:2] == ["make", "test"]:
            return True
    return False


@pytest.fixture(scope="module")
def buildspec() -> dict:
    return _load("buildspec.yml")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return _load(".github/workflows/ci.yml")


def test_buildspec_runs_make_test_on_python_3_11(buildspec):
    assert str(buildspec["version"]) == "0.2"
    phases = buildspec["phases"]
    assert str(phases["install"]["runtime-versions"]["python"]) == "3.11"
    assert any(_runs_make_test(c) for c in phases["build"]["commands"])


def test_buildspec_reports_the_junit_xml_pytest_writes(buildspec):
    pytest_args = buildspec["env"]["variables"]["PYTEST_ARGS"]
    junit = re.search(r"--junitxml=(\S+)", pytest_args).group(1)
    (report,) = buildspec["reports"].values()
    assert report["file-format"] == "JUNITXML"
    assert [str(Path(report["base-directory"]) / f) for f in report["files"]] == [junit]
    assert buildspec["artifacts"]["base-directory"] == "test-output"
    # the variable reaches pytest through the Makefile
    build = " ".join(buildspec["phases"]["build"]["commands"])
    assert "PYTEST_ARGS" in build


def test_workflow_runs_make_test_with_python_3_11(workflow):
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert "push" in triggers
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    steps = job["steps"]
    setup = next(s for s in steps if str(s.get("uses", "")).startswith("actions/setup-python"))
    assert str(setup["with"]["python-version"]) == "3.11"
    assert setup["with"]["cache"] == "pip"
    runs = [s["run"] for s in steps if "run" in s]
    assert any(_runs_make_test(r) for r in runs)
    upload = next(s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact"))
    assert upload["with"]["path"].rstrip("/") == "test-output"
    assert upload.get("if") == "always()"


def test_make_test_is_the_one_command_everywhere():
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^test:.*?(?=^\S|\Z)", makefile, flags=re.MULTILINE | re.DOTALL).group(0)
    assert re.search(r"pytest -n \$\(TEST_WORKERS\) --dist loadfile .*\$\(PYTEST_ARGS\)", target)
    assert "ruff check" in target
    ci_run = (ROOT / ".ci" / "run").read_text()
    assert any(_runs_make_test(line) for line in ci_run.splitlines())


def test_the_helper_recognises_make_test():
    assert _runs_make_test('make test PYTEST_ARGS="--junitxml=x.xml"')
    assert not _runs_make_test("make lint")
    assert not _runs_make_test("echo make test")
