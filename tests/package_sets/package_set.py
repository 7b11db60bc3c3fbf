"""MWAA's package sets for the tests: a virtualenv of each (built once per inputs, shared by
the run's workers under a lock) and the nested pytest run of a suite in it."""

from __future__ import annotations

import os
import subprocess
import xml.etree.ElementTree as ElementTree
from pathlib import Path

from image_mlops_dev.emulator.images import locked
from image_mlops_dev.mwaa_package_sets import build_venv
from image_mlops_dev.stack.manager import CONTAINER_VENVS, STATIC_CREDENTIALS

ROOT = Path(__file__).resolve().parents[2]
#: The virtualenvs live in the user's cache, outside the checkout, kept for later runs
CACHE = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "image-mlops"
#: What runs on each MWAA package set, besides the whole suite on the development lock: the
#: DAG integrity tests, and the end-to-end story (`image-mlops demo`: every DAG runs for real
#: on a running Airflow, Assets and approvals included, against the emulator)
SUITES = ("tests/dags", "tests/e2e")


def venv(version: str) -> Path:
    """MWAA ``version``'s test virtualenv (Python 3.12): its package set, then our development
    lock for what the set lacks (image_mlops_dev.mwaa_package_sets)."""
    folder = CACHE / "mwaa-venvs"
    folder.mkdir(parents=True, exist_ok=True)
    with locked(folder / f"mwaa-{version}.lock"):
        return build_venv(version, folder, checkout=ROOT, log=lambda m: print(m, flush=True))


def clean_environment() -> dict[str, str]:
    """This session's environment without its stack, Airflow and pytest-xdist settings: the
    nested session sets up its own, as a fresh `make test` would."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            ("AIRFLOW__", "AIRFLOW_CONN_", "IMAGE_MLOPS_", "AWS_CONTAINER_", "PYTEST_", "PYTHON")
        )
        and k not in ("AIRFLOW_HOME", "VIRTUAL_ENV", *STATIC_CREDENTIALS)
    }
    env[CONTAINER_VENVS] = os.environ[CONTAINER_VENVS]  # the container profiles, built once
    return env


def run_suites(version: str, output: Path) -> tuple[subprocess.CompletedProcess, dict]:
    """Run :data:`SUITES` with ``version``'s virtualenv; (the process, the JUnit counts)."""
    python = venv(version) / "bin" / "python"
    junit = output / f"mwaa-{version}-junit.xml"
    log = output / f"mwaa-{version}-pytest.txt"
    with open(log, "w") as out:
        proc = subprocess.run(
            [
                *(str(python), "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider"),
                *("-q", "-rs", f"--junitxml={junit}", *SUITES),
            ],
            cwd=ROOT,
            env=clean_environment(),
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=3000,
            check=False,
        )
    suite = ElementTree.parse(junit).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    counts = {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}
    return proc, counts | {"log": str(log), "python": str(python)}


def assert_suites_pass(version: str, expected: str, output: Path) -> None:
    """:data:`SUITES` pass on ``version``'s set, nothing skipped, in the virtualenv whose
    Python, Airflow, amazon and postgres providers are ``expected``."""
    proc, counts = run_suites(version, output)
    tail = Path(counts["log"]).read_text()[-4000:]
    assert proc.returncode == 0, tail
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0, tail
    assert counts["tests"] > 30, counts
    versions = subprocess.run(
        [
            counts["python"],
            "-c",
            "import sys; from importlib.metadata import version as v; "
            "print(sys.version_info[:2], v('apache-airflow'), "
            "v('apache-airflow-providers-amazon'), v('apache-airflow-providers-postgres'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert versions == expected, versions
    # the package's declared range admits the set: pip finds no broken requirement of ours
    check = subprocess.run(
        [counts["python"], "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout
