"""The MWAA bundle's parts, checked without MWAA: the DAG folder and its .airflowignore, the
startup script from the stack's Settings output, and requirements-mwaa.txt against its
sources (pyproject.toml, MWAA's package set). tests/package_sets/test_mwaa_bundle_layout.py runs it
as MWAA lays it out."""

from __future__ import annotations

import dataclasses
import shlex
import subprocess
import zipfile

import pytest

from image_mlops.config import PROJECT_ROOT, Settings
from image_mlops_dev import infra, mwaa_requirements
from image_mlops_dev.mwaa_bundle import (
    airflowignore,
    build_bundle,
    is_dag_file,
    parse_settings_output,
    startup_script,
)
from image_mlops_dev.mwaa_package_sets import normalize, package_set_path, parse_constraints

SETTING_NAMES = {f"IMAGE_MLOPS_{f.name.upper()}" for f in dataclasses.fields(Settings)}
SETTINGS = (
    "IMAGE_MLOPS_TARGET=aws IMAGE_MLOPS_REGION=eu-west-1 IMAGE_MLOPS_RAW_BUCKET=acme-raw "
    "IMAGE_MLOPS_SAGEMAKER_ROLE_ARN=arn:aws:iam::123456789012:role/image-mlops-sagemaker"
)


def test_every_dag_file_is_a_dag_and_a_helper_module_is_ignored(tmp_path):
    assert all(is_dag_file(p) for p in (PROJECT_ROOT / "dags").glob("*.py"))
    (tmp_path / "my_dag.py").write_text("from airflow.sdk import dag\n@dag()\ndef x(): ...\n")
    (tmp_path / "classic.py").write_text("from airflow.sdk import DAG\nwith DAG('c'): ...\n")
    # says "airflow" and "dag" (Airflow's own heuristic would parse it) but defines no DAG
    (tmp_path / "helpers.py").write_text("# shared by the airflow dag files\nX = 1\n")
    (tmp_path / "query.sql").write_text("select 1")
    (tmp_path / "lib").mkdir()
    lines = airflowignore(tmp_path).splitlines()
    assert {"helpers.py", "query.sql", "lib/", "__pycache__/"} <= set(lines)
    assert "my_dag.py" not in lines and "classic.py" not in lines


def test_the_bundle_holds_what_mwaa_takes(tmp_path):
    dest = build_bundle(tmp_path / "mwaa", parse_settings_output(SETTINGS), "image-mlops")
    dags = sorted(p.name for p in (dest / "dags").glob("*.py"))
    assert dags == sorted(p.name for p in (PROJECT_ROOT / "dags").glob("*.py"))
    ignore = (dest / "dags" / ".airflowignore").read_text().splitlines()
    assert not set(dags) & set(ignore)
    names = zipfile.ZipFile(dest / "plugins.zip").namelist()
    assert "image_mlops/include/sql/mlops/predictions.sql" in names
    assert (dest / "requirements.txt").read_text() == mwaa_requirements.REQUIREMENTS.read_text()
    assert (dest / "startup.sh").stat().st_mode & 0o111


def test_startup_sh_exports_the_settings_as_bash_reads_them(tmp_path):
    settings = parse_settings_output(SETTINGS) | {"IMAGE_MLOPS_MODEL_NAME": "it's $HOME `x`"}
    script = tmp_path / "startup.sh"
    script.write_text(startup_script(settings, "image-mlops"))
    printed = subprocess.run(
        ["bash", "-c", f"source {shlex.quote(str(script))} && env -0"],
        capture_output=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    ).stdout.decode()
    exported = dict(item.split("=", 1) for item in printed.split("\0") if item)
    for name, value in settings.items():
        assert exported[name] == value, name
    # each exported name is a setting the package reads
    assert set(settings) <= SETTING_NAMES


def test_the_templates_settings_output_is_what_the_bundle_reads():
    output = infra.template()["Outputs"]["Settings"]["Value"]["Fn::Sub"]
    names = set(parse_settings_output(output))  # ${...} values are single words too
    assert "IMAGE_MLOPS_TARGET" in names and names <= SETTING_NAMES


@pytest.mark.parametrize("value", ["", "RAW=x", "IMAGE_MLOPS_X", "AWS_SECRET_ACCESS_KEY=x"])
def test_anything_but_settings_is_refused(value):
    with pytest.raises(ValueError, match="IMAGE_MLOPS_"):
        parse_settings_output(value or "IMAGE_MLOPS_TARGET=aws junk")


def test_requirements_mwaa_is_pinned_and_holds_only_what_mwaa_lacks():
    url, pins = mwaa_requirements.read(mwaa_requirements.REQUIREMENTS)
    assert url == mwaa_requirements.constraint_url()
    installed = mwaa_requirements.installed()
    assert len(installed) > 200 and installed["apache-airflow"] == mwaa_requirements.MWAA_VERSION
    assert not set(pins) & (set(installed) | mwaa_requirements.BASE_PYTHON), "MWAA has these"
    constrained = {
        name: line.split("==", 1)[1].split(";")[0].strip()
        for name, line in parse_constraints(
            package_set_path(mwaa_requirements.MWAA_VERSION).read_text()
        ).items()
    }
    for name, version in pins.items():
        if name in constrained:  # pip would refuse any other version on MWAA
            assert version == constrained[name], name
    # every runtime dependency is in MWAA's image or in the file
    for requirement in mwaa_requirements.runtime_requirements():
        name = normalize(requirement.split("[")[0].split(">")[0].split("=")[0].split("<")[0])
        assert name in installed or name in pins, name
