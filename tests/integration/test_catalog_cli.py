"""`image-mlops catalog load-sample|extract` against the test stack."""

from __future__ import annotations

import json

import pytest

from image_mlops.cli import main

pytestmark = pytest.mark.stack


def json_lines(out: str) -> list[dict]:
    """The command's JSON output (Airflow's own log lines may share stdout)."""
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_load_sample_twice_then_extract(clean_aws, settings, capsys):
    assert main(["catalog", "load-sample"]) == 0
    (first,) = json_lines(capsys.readouterr().out)
    assert main(["catalog", "load-sample"]) == 0  # idempotent: same counts, no duplicates
    assert json_lines(capsys.readouterr().out) == [first]
    assert first["products"] == 54
    assert first["product_images"] == first["images"]
    # every "ok" picture and the HTML page are uploaded; missing and ftp URLs get no object
    media = clean_aws.keys(settings.raw_bucket, "catalog-media/")
    assert len(media) == first["media_objects"] == first["images"] - 2
    assert all(key.endswith(".jpg") for key in media)
    assert clean_aws.keys(settings.raw_bucket, "incoming/") == []

    assert main(["catalog", "extract", "--limit", "3"]) == 0
    rows = json_lines(capsys.readouterr().out)
    assert [r["product_id"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) == {"product_id", "title", "image_url", "description"}


def test_load_sample_refuses_a_non_local_target(monkeypatch, capsys):
    monkeypatch.setenv("IMAGE_MLOPS_TARGET", "aws")
    assert main(["catalog", "load-sample"]) == 2
    assert "local target only" in capsys.readouterr().err
