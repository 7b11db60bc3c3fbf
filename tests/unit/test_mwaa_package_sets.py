"""MWAA's package sets (``constraints/mwaa-<version>.txt``): how the generator reads MWAA's
bill of materials and Airflow's constraints, how a test virtualenv's constraints are merged,
and that the committed sets are what MWAA's image repository says (when its mirror is here)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from image_mlops_dev import mwaa_package_sets as sets

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = ("3.3.1", "3.2.1")
SITE = "/usr/local/airflow/.local/lib/python3.12/site-packages"


def test_a_bom_line_gives_a_normalized_name_and_its_version():
    text = "\n".join(
        [
            "This Docker image includes the following third-party software/licensing:",
            "Flask-SQLAlchemy",
            f"{SITE}/flask_sqlalchemy-3.1.1.dist-info/LICENSE.rst",
            f"{SITE}/flask_sqlalchemy-3.1.1.dist-info/licenses/OTHER",  # same distribution
            f"{SITE}/Flask_Login-0.6.3.dist-info/LICENSE",
            f"{SITE}/python_dateutil-2.9.0.post0.dist-info/LICENSE",
            "/usr/lib/python3.12/site-packages/not_ours-1.0.dist-info/LICENSE",  # not the image's
            "Copyright (c) 2017 someone-1.0.dist-info",
            "",
            "lockfile",  # a record whose licence has no file: its name and version lines
            "0.12.2",
            "MIT License",
            "",
            "See the licence below.",  # prose after a blank line is not a record
            "",
        ]
    )
    assert sets.parse_bom(text) == {
        "lockfile": "0.12.2",
        "flask-sqlalchemy": "3.1.1",
        "flask-login": "0.6.3",
        "python-dateutil": "2.9.0.post0",
    }


def test_two_versions_of_one_distribution_in_a_bom_are_an_error():
    text = f"{SITE}/six-1.16.0.dist-info/LICENSE\n{SITE}/six-1.17.0.dist-info/LICENSE\n"
    with pytest.raises(ValueError, match="two versions"):
        sets.parse_bom(text)


def test_constraint_lines_are_read_by_normalized_name():
    pins = sets.parse_constraints(
        "# comment\n\n--index-url x\nAPScheduler==3.11.3\nbackports.zstd==1.6.0 # why\n"
        'tomli==2.0.1; python_version < "3.11"\n'
    )
    assert pins == {
        "apscheduler": "APScheduler==3.11.3",
        "backports-zstd": "backports.zstd==1.6.0",
        "tomli": 'tomli==2.0.1; python_version < "3.11"',
    }
    assert sets.normalize_line("APScheduler==3.11.3") == "apscheduler==3.11.3"


def test_mwaa_pins_win_and_the_dev_lock_fills_in_only_what_mwaa_lacks():
    mwaa = "apache-airflow==3.3.1\nboto3==1.43.56\nnumpy==2.5.1\n"
    dev = (
        "apache-airflow==3.3.2\nboto3==1.43.117\nNumPy==2.4.6\nmoto==5.2.5\npytest==9.2.0\n"
        "sagemaker-core==2.27.0\n"
    )
    merged = sets.parse_constraints(sets.merge_constraints(mwaa, dev, unpinned=["sagemaker_core"]))
    assert merged == {
        "apache-airflow": "apache-airflow==3.3.1",
        "boto3": "boto3==1.43.56",
        "numpy": "numpy==2.5.1",
        "moto": "moto==5.2.5",
        "pytest": "pytest==9.2.0",
    }


def test_test_constraints_merge_the_committed_set_with_the_dev_lock(tmp_path):
    (tmp_path / "mwaa-9.9.9.txt").write_text("# generated\napache-airflow==9.9.9\n")
    lock = tmp_path / "lock.txt"
    lock.write_text("apache-airflow==3.3.2\npytest==9.2.0\nsagemaker-core==2.27.0\n")
    merged = sets.parse_constraints(sets.test_constraints("9.9.9", lock, constraints_dir=tmp_path))
    assert merged == {"apache-airflow": "apache-airflow==9.9.9", "pytest": "pytest==9.2.0"}


def test_requirements_lose_their_versions_but_keep_extras_and_markers(tmp_path):
    (tmp_path / "base.txt").write_text(
        "# runtime\napache-airflow-providers-amazon[aiobotocore]==9.39.0\n"
        'tomli>=2 ; python_version < "3.11"\n'
    )
    (tmp_path / "dev.txt").write_text("-r base.txt\n--index-url x\npytest==9.2.0  # tests\n")
    assert sets.unpinned_requirements(tmp_path / "dev.txt") == [
        "apache-airflow-providers-amazon[aiobotocore]",
        'tomli; python_version < "3.11"',
        "pytest",
    ]


def test_our_requirements_all_unpin():
    names = sets.unpinned_requirements(ROOT / "requirements-dev.txt")
    assert "apache-airflow" in names and "moto[server]" in names
    assert not [n for n in names if any(op in n for op in "=<>~!")]


def _mirror() -> sets.Mirror:
    git_dir = sets.default_mirror()
    if not (git_dir / "HEAD").is_file() and not (git_dir / ".git").exists():
        pytest.skip(f"no mirror of {sets.SOURCE_REPOSITORY} at {git_dir} ($MWAA_IMAGES_REPO)")
    try:
        subprocess.run(
            ["git", "-C", str(git_dir), "rev-parse", "HEAD"], check=True, capture_output=True
        )
    except (OSError, subprocess.CalledProcessError):
        pytest.skip(f"{git_dir} is not a git directory")
    return sets.Mirror(git_dir)


@pytest.mark.parametrize("version", VERSIONS)
def test_committed_sets_name_their_source(version):
    text = sets.package_set_path(version).read_text()
    assert "GENERATED" in text and sets.SOURCE_REPOSITORY in text
    for path in sets.bom_paths(version):
        assert path in text
    pins = sets.parse_constraints(text)
    assert pins["apache-airflow"] == f"apache-airflow=={version}"
    assert all(line == sets.normalize_line(line) for line in pins.values())


@pytest.mark.parametrize("version", VERSIONS)
def test_committed_sets_are_current_against_the_mirror(version):
    mirror = _mirror()
    assert sets.package_set_path(version).read_text() == sets.render_package_set(version, mirror), (
        f"regenerate: python -m image_mlops_dev.mwaa_package_sets {version}"
    )
