"""The S3 layout's key builders: safe, deterministic, unicode-clean."""

from __future__ import annotations

import unicodedata

import pytest

from image_mlops import s3layout
from image_mlops.s3layout import UnsafeKeyError, relative_key, run_slug


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("shoe/a.jpg", "shoe/a.jpg"),
        ("/shoe/a.jpg", "shoe/a.jpg"),
        ("///shoe//a.jpg", "shoe/a.jpg"),
        ("./shoe/./a.jpg", "shoe/a.jpg"),
        ("shoe/x/../a.jpg", "shoe/a.jpg"),
        ("a folder/with spaces .jpg", "a folder/with spaces .jpg"),
        ("ünï/çødé 日本.png", "ünï/çødé 日本.png"),
        ("shoe/a.jpg/", "shoe/a.jpg"),
        ("..hidden/..a..jpg", "..hidden/..a..jpg"),  # dots inside names are just names
    ],
)
def test_relative_key(key, expected):
    assert relative_key(key) == expected


def test_relative_key_normalises_unicode_to_nfc():
    decomposed = unicodedata.normalize("NFD", "café/é.jpg")
    assert decomposed != "café/é.jpg"
    assert relative_key(decomposed) == unicodedata.normalize("NFC", "café/é.jpg")
    assert relative_key(decomposed) == relative_key("café/é.jpg")


@pytest.mark.parametrize("key", ["../a.jpg", "shoe/../../a.jpg", "/../etc/passwd", "a/../../b"])
def test_relative_key_refuses_to_climb_out(key):
    with pytest.raises(UnsafeKeyError, match="climbs out"):
        relative_key(key)


@pytest.mark.parametrize("key", ["", "/", "./", "a/..", "//./"])
def test_relative_key_refuses_keys_without_a_name(key):
    with pytest.raises(UnsafeKeyError):
        relative_key(key)


def test_unsafe_key_error_is_a_value_error():
    assert issubclass(UnsafeKeyError, ValueError)


@pytest.mark.parametrize(
    ("run_id", "expected"),
    [
        ("manual__2026-11-27T10:00:00+00:00", "manual__2026-11-27T10_00_00_00_00"),
        (
            "scheduled__2026-01-01T00:00:00.123456+00:00",
            "scheduled__2026-01-01T00_00_00.123456_00_00",
        ),
        ("a/b\\c d", "a_b_c_d"),
        ("ünïcode run", "n_code_run"),
        ("...", "run"),
        ("", "run"),
        ("._x_.", "x"),
    ],
)
def test_run_slug(run_id, expected):
    assert run_slug(run_id) == expected


def test_run_slug_is_one_safe_segment_and_deterministic():
    for run_id in ["manual__2026-11-27T10:00:00+00:00", "../../x", "a/b/c", "日本"]:
        slug = run_slug(run_id)
        assert "/" not in slug and slug not in ("", ".", "..")
        assert run_slug(run_id) == slug


def test_keys_built_from_run_ids():
    run = "manual__2026-11-27T10:00:00+00:00"
    slug = run_slug(run)
    assert s3layout.error_key(run, "/incoming/a b.jpg") == f"errors/{slug}/incoming/a b.jpg"
    assert s3layout.reasons_key(run) == f"errors/{slug}/_reasons.jsonl"
    assert s3layout.manifest_key(run) == f"predictions/_manifests/{slug}.jsonl"
    assert s3layout.catalog_manifest_key(run) == f"catalog/{slug}/products.jsonl"


def test_model_and_prediction_keys():
    assert s3layout.model_artifact_key("clf", 3) == "clf/3/model.tar.gz"
    assert s3layout.evaluation_key("clf", "3") == "clf/3/evaluation.json"
    assert s3layout.prediction_key("shoe", "incoming/sub/ä b.jpg") == "predictions/shoe/sub/ä b.jpg"
    assert s3layout.uncertain_key("incoming/x.png") == "predictions/_uncertain/x.png"


def test_images_of_one_basename_never_share_an_output_key():
    keys = {
        s3layout.prediction_key("mug", k) for k in ("incoming/shopA/1.jpg", "incoming/shopB/1.jpg")
    }
    assert keys == {"predictions/mug/shopA/1.jpg", "predictions/mug/shopB/1.jpg"}
    assert s3layout.placed_path("predictions/mug/shopA/1.jpg") == "shopA/1.jpg"
    assert s3layout.placed_path("predictions/_uncertain/shopA/1.jpg") == "shopA/1.jpg"
    assert s3layout.placed_path("predictions/mug") is None
    assert s3layout.placed_path("other/mug/1.jpg") is None


def test_a_placement_deletes_only_its_own_earlier_keys():
    from image_mlops.classification.placement import Placement, own_stale_keys

    job = Placement(
        source_key="incoming/shopA/1.jpg",
        target_key="predictions/cup/shopA/1.jpg",
        stale_keys={
            "predictions/mug/shopA/1.jpg",  # this image, placed by an earlier model
            "predictions/mug/shopB/1.jpg",  # another image of the same basename
            "predictions/mug/1.jpg",  # a placement of the old basename-only layout
            "predictions/cup/shopA/1.jpg",  # the target itself
        },
    )
    assert own_stale_keys(job) == ["predictions/mug/shopA/1.jpg"]


def test_label_of():
    assert s3layout.label_of("labeled/shoe/a.jpg") == "shoe"
    assert s3layout.label_of("labeled/ünï code/a b.jpg") == "ünï code"
    for bad in ["incoming/a.jpg", "labeled/a.jpg", "labeledx/shoe/a.jpg"]:
        with pytest.raises(ValueError, match="labeled/"):
            s3layout.label_of(bad)
