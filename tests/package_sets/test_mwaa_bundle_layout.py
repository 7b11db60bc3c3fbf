"""The MWAA bundle, laid out as MWAA lays it out, in a fresh virtualenv of MWAA 3.3.1's package
set: ``$AIRFLOW_HOME/dags``, ``plugins`` (``plugins.zip`` extracted), ``requirements/
requirements.txt`` and ``startup/startup.sh`` (aws/amazon-mwaa-docker-images,
images/airflow/3.3.1/docker-compose.yaml, commit 0028196, 2026-08-12), under a root folder of
the test's; the requirements installed as MWAA installs them, ``startup.sh`` sourced, then a
DAG runs against the emulator with nothing of the checkout on its path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile

import pytest
from package_set import ROOT

from image_mlops import s3layout
from image_mlops.catalog.pipeline import read_manifest
from image_mlops.catalog.sample import EDGE_CASES, REGULAR_PRODUCTS, load_sample
from image_mlops_dev.mwaa_bundle import build_bundle, stack_settings
from image_mlops_dev.mwaa_package_sets import find_python, package_set_path
from image_mlops_dev.mwaa_requirements import MWAA_VERSION, constraint_url
from image_mlops_dev.stack.manager import STACK_NAME

pytestmark = [pytest.mark.stack, pytest.mark.slow(minutes=5), pytest.mark.timeout(1800)]

#: What MWAA's image itself installs (images/airflow/3.3.1/requirements.txt, "Main Airflow
#: packages" and "Additional packages for MWAA Airflow"; psycopg2-binary for psycopg2, which
#: builds from source), pinned by the package set
MWAA_IMAGE_PACKAGES = (
    f"apache-airflow[celery,statsd]=={MWAA_VERSION}",
    "apache-airflow-providers-amazon[aiobotocore]",
    "apache-airflow-providers-postgres",
    "celery[sqs]",
    "psycopg2-binary",
    "watchtower",
)


@pytest.fixture(scope="module")
def mwaa_home(tmp_path_factory, local_stack, admin):
    """The bundle of the emulator's deployed stack, in MWAA's layout, its requirements in a
    fresh virtualenv; (the root, its python)."""
    bundle = build_bundle(
        tmp_path_factory.mktemp("dist") / "mwaa",
        stack_settings(STACK_NAME, admin.cloudformation),
        STACK_NAME,
    )
    root = tmp_path_factory.mktemp("mwaa") / "usr-local-airflow"
    shutil.copytree(bundle / "dags", root / "dags")
    zipfile.ZipFile(bundle / "plugins.zip").extractall(root / "plugins")
    (root / "requirements").mkdir()
    # MWAA fetches the --constraint URL; this machine reaches no GitHub, so the line names the
    # committed package set instead, whose pins for names MWAA lacks are that file's
    requirements = (bundle / "requirements.txt").read_text()
    assert f"--constraint {constraint_url()}\n" in requirements
    (root / "requirements" / "requirements.txt").write_text(
        requirements.replace(constraint_url(), str(package_set_path(MWAA_VERSION)))
    )
    (root / "startup").mkdir()
    shutil.copy(bundle / "startup.sh", root / "startup" / "startup.sh")

    venv = root.parent / "venv"
    subprocess.run([str(find_python()), "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    constraints = ("-c", str(package_set_path(MWAA_VERSION)))
    subprocess.run([*pip, *constraints, *MWAA_IMAGE_PACKAGES], check=True, timeout=900)
    # as MWAA's entrypoint does: pip install -r requirements.txt (it carries its constraint)
    subprocess.run(
        [*pip, "-r", str(root / "requirements" / "requirements.txt")], check=True, timeout=900
    )
    return root, venv / "bin" / "python"


def mwaa_environment(root, startup_names) -> dict[str, str]:
    """The stack's Airflow environment (its connections, the worker role's credentials as
    MWAA hands the execution role's), minus every setting ``startup.sh`` exports, with
    MWAA's folders and nothing of the checkout."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in startup_names
        and not k.startswith(("PYTHON", "VIRTUAL_ENV", "PYTEST_"))
        and not k.startswith("AIRFLOW__")
    }
    env.update(
        {
            "AIRFLOW_HOME": str(root),
            "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{root / 'airflow.db'}",
        }
    )
    return env


def startup_names(root) -> set[str]:
    lines = (root / "startup" / "startup.sh").read_text().splitlines()
    return {line.split()[1].split("=")[0] for line in lines if line.startswith("export ")}


def test_the_bundle_has_what_mwaa_takes(mwaa_home):
    root, python = mwaa_home
    dags = sorted(p.name for p in (root / "dags").glob("*.py"))
    assert dags == sorted(p.name for p in (ROOT / "dags").glob("*.py"))
    assert (root / "dags" / ".airflowignore").is_file()
    assert (root / "plugins" / "image_mlops" / "include" / "sql" / "mlops").is_dir()
    names = startup_names(root)
    assert {
        "IMAGE_MLOPS_TARGET",
        "IMAGE_MLOPS_RAW_BUCKET",
        "IMAGE_MLOPS_SAGEMAKER_ROLE_ARN",
    } <= names
    check = subprocess.run(
        [str(python), "-m", "pip", "check"], capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout


def test_a_dag_runs_from_mwaas_layout_against_the_emulator(mwaa_home, clean_aws, settings):
    root, python = mwaa_home
    aws = clean_aws
    load_sample(settings, s3=aws.s3)
    names = startup_names(root)
    env = mwaa_environment(root, names)
    airflow = python.parent / "airflow"
    script = f"""
set -euo pipefail
source "$AIRFLOW_HOME/startup/startup.sh"
# the emulator stands in for AWS: the local target is the one setting that differs
export IMAGE_MLOPS_TARGET=local
{python} -c 'import airflow, image_mlops; print("IMPORTED", image_mlops.__file__)'
{airflow} db migrate >/dev/null
{airflow} dags test extract_product_catalog -c '{json.dumps({"batch_size": 20})}'
"""
    result = subprocess.run(
        ["bash", "-c", script],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    # the package came from MWAA's plugins folder: Airflow (import airflow) puts it on the
    # path, not the test
    imported = next(line for line in output.splitlines() if line.startswith("IMPORTED"))
    assert imported.split()[1].startswith(str(root / "plugins" / "image_mlops")), imported

    written = aws.keys(settings.raw_bucket, s3layout.CATALOG_PREFIX)
    manifests = [k for k in written if k.endswith("/products.jsonl")]
    assert len(manifests) == 1, written
    records = read_manifest(aws.s3, settings.raw_bucket, manifests[0])
    assert len(records) == len(REGULAR_PRODUCTS) + len(EDGE_CASES)
    assert aws.keys(settings.raw_bucket, "incoming/")
