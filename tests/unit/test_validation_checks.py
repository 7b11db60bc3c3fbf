"""The checks on the generated corpus, the draft-mode truncation claim, the CLI, batching."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from validation_corpus import corpus, image_bytes, photo_jpeg

from image_mlops.validation.checks import (
    REASON_DOCS,
    CheckLimits,
    Reason,
    check_image,
    mark_duplicates,
)

ROOT = Path(__file__).resolve().parents[2]
CASES = corpus()


@pytest.mark.parametrize("name", sorted(CASES))
def test_each_corpus_file_gets_its_reason(name):
    data, expected = CASES[name]
    result = check_image(data, name)
    if expected == "duplicate":  # content is valid; duplicates are decided across files
        assert result.valid
        return
    assert result.reason == expected, result.detail
    assert result.valid is (expected is None)
    assert len(result.sha256) == 64 and result.size == len(data)


def test_reason_codes_are_a_closed_documented_set():
    assert set(REASON_DOCS) == set(Reason)
    assert {r.value for r in Reason} >= {
        "empty_file",
        "not_an_image",
        "unsupported_format",
        "truncated",
        "corrupt",
        "too_small",
        "too_large",
        "pixel_bomb",
        "animated",
        "duplicate",
        "unsafe_key",
    }


def test_content_wins_over_extension_and_exif_is_noted():
    png_as_jpg = check_image(CASES["incoming/png named.jpg"][0], "png named.jpg")
    assert png_as_jpg.valid and png_as_jpg.format == "PNG"
    assert png_as_jpg.extension_mismatch == "extension .jpg but content is PNG"
    rotated = check_image(CASES["labeled/dogs/rotated.jpg"][0], "rotated.jpg")
    assert rotated.extra == {"exif-orientation": "6"}
    assert check_image(CASES["labeled/cats/cmyk.jpg"][0], "c.jpg").mode == "CMYK"


def test_limits_are_settings():
    data = image_bytes("JPEG", (64, 48))
    assert check_image(data, limits=CheckLimits(max_bytes=len(data) - 1)).reason == "too_large"
    assert check_image(data, limits=CheckLimits(min_side=49)).reason == "too_small"
    assert check_image(data, limits=CheckLimits(max_pixels=64 * 48 - 1)).reason == "pixel_bomb"
    assert check_image(data, limits=CheckLimits(allowed_formats=("PNG",))).reason == (
        "unsupported_format"
    )


@pytest.mark.parametrize("keep", [0.5, 0.8, 0.95])
def test_draft_mode_still_reads_the_whole_stream(keep):
    """A 640×640 JPEG cut anywhere in its entropy-coded data is caught as truncated."""
    data = photo_jpeg(3)
    assert check_image(data, "a.jpg").valid
    cut = data[: int(len(data) * keep)]
    assert check_image(cut, "a.jpg").reason == "truncated"


def test_mark_duplicates_first_in_sorted_order_wins():
    data = image_bytes("PNG", (40, 40))
    items = [(n, check_image(data, n)) for n in ("b.png", "a.png", "c.png")]
    mark_duplicates(items)
    got = {n: r.reason for n, r in items}
    assert got == {"a.png": None, "b.png": "duplicate", "c.png": "duplicate"}


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "image_mlops.cli", "validate", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        # a bare environment (no AWS, no Airflow settings), but the session's own state folder:
        # the CLI keeps its log file there, and tests write nothing into the checkout
        env={
            "PYTHONPATH": str(ROOT / "plugins"),
            "PATH": "/usr/bin:/bin",
            "IMAGE_MLOPS_STATE_DIR": os.environ["IMAGE_MLOPS_STATE_DIR"],
        },
        timeout=120,
    )


def test_cli_json_on_the_corpus(tmp_path):
    for name, (data, _) in CASES.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    done = _cli("--json", str(tmp_path))
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    got = {str(Path(r["path"]).relative_to(tmp_path)): r for r in records}
    assert {k: r["reason"] for k, r in got.items()} == {k: v[1] for k, v in CASES.items()}
    good = got["labeled/cats/good.jpg"]
    assert good["valid"] is True and (good["format"], good["width"], good["height"]) == (
        "JPEG",
        64,
        48,
    )
    assert set(good) >= {"path", "valid", "reason", "format", "width", "height", "sha256"}


def test_cli_exit_codes(tmp_path):
    ok = tmp_path / "ok.png"
    ok.write_bytes(image_bytes("PNG", (40, 40)))
    done = _cli(str(ok))
    assert done.returncode == 0 and done.stdout.startswith("ok ")
    assert _cli(str(tmp_path / "missing.jpg")).returncode == 2
    (tmp_path / "bad.jpg").write_bytes(b"")
    done = _cli(str(tmp_path))
    assert done.returncode == 1 and "empty_file" in done.stdout
