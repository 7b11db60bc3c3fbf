"""`image-mlops upload` puts a local folder under the raw bucket's areas."""

from __future__ import annotations

import pytest

from image_mlops.cli import main

pytestmark = pytest.mark.stack


def test_upload_labeled_folder_keeps_class_folders(clean_aws, settings, tmp_path, capsys):
    (tmp_path / "mug").mkdir()
    (tmp_path / "mug" / "a.jpg").write_bytes(b"jpeg bytes")
    (tmp_path / "shoe").mkdir()
    (tmp_path / "shoe" / "b é.png").write_bytes(b"png bytes")
    assert main(["upload", "labeled", str(tmp_path)]) == 0
    assert clean_aws.keys(settings.raw_bucket, "labeled/") == [
        "labeled/mug/a.jpg",
        "labeled/shoe/b é.png",
    ]
    assert "uploaded 2 files" in capsys.readouterr().out


def test_upload_refuses_a_labeled_folder_without_classes(local_stack, tmp_path, capsys):
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert main(["upload", "labeled", str(tmp_path)]) == 2
    assert "no class sub-folders" in capsys.readouterr().err
