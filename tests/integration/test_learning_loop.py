"""The learning loop on the local stack: feedback files and review decisions become labelled
training images in S3 (real PostgreSQL, real S3 API calls against the emulator).

The world: two uploaded labelled images, and classified images in the output bucket with
their rows in the predictions table, as classification leaves them.
"""

from __future__ import annotations

import hashlib
import io
import time
import uuid

import pytest
from classify_fixtures import insert_classified
from conftest import delete_labelled

from image_mlops.labels import events, feedback, ingest, review
from image_mlops.training import dataset

pytestmark = pytest.mark.stack

VERSION = 5151  # a model version of its own in the shared predictions table


def _jpeg(seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    image = Image.new("RGB", (48, 48), (seed % 256, (seed * 7) % 256, 120))
    # the colour repeats every 256 seeds: the seed in a comment makes the bytes its own (the
    # same bytes twice in one run were one image, a duplicate row in the predictions table)
    image.save(out, "JPEG", quality=90, comment=f"seed {seed}".encode())
    return out.getvalue()


@pytest.fixture(scope="module")
def world(local_stack):
    from image_mlops.aws import aws_client
    from image_mlops.config import get_settings

    settings = get_settings()
    s3 = aws_client("s3", settings)
    tag = uuid.uuid4().hex[:8]
    seed = int(tag, 16) % 10_000
    uploads = {}
    for i, label in enumerate(("mug", "book")):
        body = _jpeg(seed + i)
        key = f"labeled/{label}/{tag}-upload-{i}.jpg"
        s3.put_object(
            Bucket=settings.validated_bucket,
            Key=key,
            Body=body,
            Metadata={"sha256": hashlib.sha256(body).hexdigest()},
        )
        uploads[label] = (key, body)
    images = {}
    rows = []
    for n in range(7):
        # image 4 has the very bytes of the uploaded mug: labelled already, by content
        body = uploads["mug"][1] if n == 4 else _jpeg(seed + 100 + n)
        sha = hashlib.sha256(body).hexdigest()
        source_key = f"incoming/{tag}/{tag}-img-{n}.jpg"
        output_key = f"predictions/lamp/{tag}/{tag}-img-{n}.jpg"
        if n != 6:  # image 6's object is gone (deleted by hand)
            s3.put_object(
                Bucket=settings.output_bucket,
                Key=output_key,
                Body=body,
                Metadata={"sha256": sha, "format": "JPEG"},
                ContentType="image/jpeg",
            )
        images[n] = {"sha": sha, "source_key": source_key, "output_key": output_key}
        rows.append((sha, VERSION, source_key, output_key, "lamp", 0.5, True))
    insert_classified(settings, rows)  # VERSION is this module's own: no earlier rows
    yield {"settings": settings, "s3": s3, "tag": tag, "images": images, "uploads": uploads}
    delete_labelled(settings, tag)


def _status(settings, image_key: str) -> list[tuple[str, str, str, str | None]]:
    rows = events.pg_hook(settings).get_records(
        "SELECT source, label, status, detail FROM label_events WHERE image_key = %s ORDER BY id",
        parameters=(image_key,),
    )
    return [tuple(r) for r in rows]


def _labelled(world) -> dict[str, dict]:
    """The labelled images of this test: key → (label, source)."""
    return {
        i["key"]: i
        for i in dataset.list_labeled(world["settings"])
        if world["tag"] in i["key"] or i["sha256"] in {v["sha"] for v in world["images"].values()}
    }


def _put_feedback(world, name: str, rows: list[str]) -> None:
    text = "key,label\n" + "\n".join(rows) + "\n"
    world["s3"].put_object(
        Bucket=world["settings"].raw_bucket,
        Key=f"feedback/{world['tag']}-{name}.csv",
        Body=text.encode(),
    )


def _review(world, n: int, label: str, *, reviewer: str, decision: str) -> int:
    """A review decision on image ``n``, as the Review page posts it; how many were new."""
    image = world["images"][n]
    return review.record_decisions(
        world["settings"],
        [
            {
                "decision_id": f"{world['tag']}-{decision}",
                "image_sha256": image["sha"],
                "source_key": image["source_key"],
                "label": label,
            }
        ],
        reviewer=reviewer,
        classes=["book", "lamp", "mug"],
    )


def test_feedback_and_review_become_labelled_images_with_lineage(world):
    settings, img, tag = world["settings"], world["images"], world["tag"]
    key = {n: img[n]["source_key"] for n in img}
    _put_feedback(
        world,
        "day1",
        [
            f"{key[0]},mug",
            f"{key[1]},book",
            f"{key[2]},mug",
            f"{key[3]},sofa",  # not a class we train
            f"incoming/{tag}/never-seen.jpg,mug",  # no classified image has this key
            f"labeled/mug/{tag}.jpg,mug",  # not an incoming key
            f"{key[4]},mug",  # the same bytes as an uploaded mug
            f"{key[6]},book",  # its object is gone
        ],
    )
    time.sleep(1.1)  # S3 times have a resolution of one second: day2 is later
    _put_feedback(world, "day2", [f"{key[2]},book"])  # the later label for image 2
    assert feedback.collect(settings) >= 9
    # a reviewer says image 1 is a mug: a review beats feedback (also an earlier review, as
    # the unit tests show)
    assert _review(world, 1, "mug", reviewer="alice", decision="r1") == 1

    summary = ingest.ingest(settings)
    assert summary["labeled_by_class"].get("mug", 0) >= 2

    labelled = _labelled(world)
    by_sha = {i["sha256"]: i for i in labelled.values()}
    assert by_sha[img[0]["sha"]]["key"] == f"labeled/mug/{tag}-img-0.jpg"
    assert by_sha[img[0]["sha"]]["source"] == "feedback"
    assert by_sha[img[1]["sha"]]["label"] == "mug" and by_sha[img[1]["sha"]]["source"] == "review"
    assert by_sha[img[2]["sha"]]["label"] == "book"  # the later file won
    assert img[3]["sha"] not in by_sha and img[6]["sha"] not in by_sha
    # the uploaded mug is there once, as uploaded
    assert [i["key"] for i in labelled.values() if i["sha256"] == img[4]["sha"]] == [
        world["uploads"]["mug"][0]
    ]
    head = world["s3"].head_object(
        Bucket=settings.validated_bucket, Key=f"labeled/mug/{tag}-img-0.jpg"
    )
    assert head["Metadata"]["label-source"] == "feedback"
    assert head["Metadata"]["sha256"] == img[0]["sha"]
    assert head["Metadata"]["label-event"].isdigit()
    assert head["ContentLength"] == len(
        world["s3"]
        .get_object(Bucket=settings.output_bucket, Key=img[0]["output_key"])["Body"]
        .read()
    )

    assert _status(settings, key[1]) == [
        ("feedback", "book", "superseded", _status(settings, key[1])[0][3]),
        ("review", "mug", "labeled", None),
    ]
    assert "review by alice ('mug'" in _status(settings, key[1])[0][3]
    first, second = _status(settings, key[2])
    assert (first[2], second[2]) == ("superseded", "labeled")
    assert "feedback ('book'" in first[3]
    assert _status(settings, key[3])[0][2] == "unknown_class"
    assert "'sofa' is not a class" in _status(settings, key[3])[0][3]
    assert _status(settings, f"incoming/{tag}/never-seen.jpg")[0][2] == "unknown_key"
    assert _status(settings, f"labeled/mug/{tag}.jpg")[0][2] == "bad_key"
    assert _status(settings, key[4])[0][2] == "already_labeled"
    assert _status(settings, key[6])[0][2] == "missing_image"

    # --- a repeated run counts nothing twice ----------------------------------------------
    before = {k: (v["label"], v["sha256"]) for k, v in _labelled(world).items()}
    assert feedback.collect(settings) == 0
    assert ingest.ingest(settings)["pending"] == 0
    after = {k: (v["label"], v["sha256"]) for k, v in _labelled(world).items()}
    assert after == before

    # --- a later review moves an image to its right class ------------------------------------
    _review(world, 0, "book", reviewer="bob", decision="r2")
    moved = ingest.ingest(settings)
    assert moved["labeled_by_class"] == {"book": 1}
    labelled = _labelled(world)
    assert [i["key"] for i in labelled.values() if i["sha256"] == img[0]["sha"]] == [
        f"labeled/book/{tag}-img-0.jpg"
    ]
    statuses = _status(settings, key[0])
    assert [(s[0], s[2]) for s in statuses] == [("feedback", "superseded"), ("review", "labeled")]
    assert "relabelled from 'mug'" in statuses[1][3]

    # --- the snapshot says where its labels came from ----------------------------------------
    lineage = dataset.lineage(dataset.list_labeled(settings))
    assert lineage["by_source"]["review"] >= 2 and lineage["by_source"]["feedback"] >= 1


def test_a_labelled_name_taken_by_another_image_gets_the_content_hash(world):
    settings, s3, tag = world["settings"], world["s3"], world["tag"]
    body = _jpeg(20_001)  # seeds outside the module fixture's (tag % 10_000 + up to 106)
    other = _jpeg(20_000)
    sha = hashlib.sha256(body).hexdigest()
    name = f"{tag}-same-name.jpg"
    s3.put_object(
        Bucket=settings.validated_bucket,
        Key=f"labeled/mug/{name}",
        Body=other,
        Metadata={"sha256": hashlib.sha256(other).hexdigest()},
    )
    s3.put_object(Bucket=settings.output_bucket, Key=f"predictions/mug/{tag}/{name}", Body=body)
    insert_classified(
        settings,
        [
            (
                sha,
                VERSION,
                f"incoming/{tag}/x/{name}",
                f"predictions/mug/{tag}/{name}",
                "mug",
                0.99,
                False,
            )
        ],
    )
    _put_feedback(world, "collision", [f"incoming/{tag}/x/{name},mug"])
    feedback.collect(settings)
    ingest.ingest(settings)
    keys = {k: i["sha256"] for k, i in _labelled(world).items() if "same-name" in k}
    assert (
        keys
        == {
            f"labeled/mug/{name}": hashlib.sha256(other).hexdigest(),  # untouched
            f"labeled/mug/{tag}-same-name-{sha[:16]}.jpg": sha,
        }
    )
