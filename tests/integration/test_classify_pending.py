"""Planning by listing (no HEAD per image), content known by sha256, placement verified by
the copy's SHA-256 checksum — on the template's SSE-KMS buckets, whose ETags are no MD5.

Real emulator and PostgreSQL; the batch functions are called directly (no DAG run).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from classify_fixtures import colour_image, deploy_production_model, put_incoming

from image_mlops.classification import classify, pending, placement, records, run
from image_mlops.classification.clients import client

pytestmark = pytest.mark.stack

RED, GREEN = (220, 30, 30), (30, 200, 40)


@pytest.fixture
def scene(clean_aws, local_stack, settings):
    records.ensure_predictions_table(settings)
    records._execute(settings, "TRUNCATE predictions")
    records._execute(settings, "TRUNCATE prediction_sources")
    deploy_production_model(settings, version=1)
    return clean_aws, settings


def classify_all(settings, run_id: str) -> list[dict]:
    model = run.find_model(settings)
    batch_list = run.plan(settings, model, run_id, 2)
    return [run.classify(settings, batch, model, run_id) for batch in batch_list]


@pytest.fixture
def head_calls(settings):
    """Keys of the HeadObject calls the package's S3 client makes during the test."""
    calls: list[str] = []
    events = client("s3", settings).meta.events
    event, unique_id = "before-parameter-build.s3.HeadObject", "test-classify-head-calls"
    events.register(event, lambda params, **_: calls.append(params["Key"]), unique_id=unique_id)
    yield calls
    events.unregister(event, unique_id=unique_id)


def result_lines(aws, settings, summaries: list[dict]) -> list[dict]:
    lines = []
    for summary in summaries:
        body = aws.s3.get_object(Bucket=settings.output_bucket, Key=summary["results_key"])
        lines += [json.loads(line) for line in body["Body"].read().splitlines()]
    return sorted(lines, key=lambda line: line["source_key"])


def test_the_buckets_etags_are_no_md5(scene):
    """What the rest of this module runs on: the template's SSE-KMS buckets."""
    aws, settings = scene
    data = colour_image(RED, seed=0)
    key = put_incoming(aws, settings, "red-0.jpg", data)
    (listed,) = pending.list_incoming(settings)
    assert listed["key"] == key and listed["etag"] != hashlib.md5(data).hexdigest()


def test_plan_lists_without_head_and_skips_classified_content(scene, head_calls):
    aws, settings = scene
    heads = head_calls
    for i in range(3):
        put_incoming(aws, settings, f"red-{i}.jpg", colour_image(RED, seed=i))

    assert [i["key"] for i in pending.pending_images(1, settings)] == [
        f"incoming/red-{i}.jpg" for i in range(3)
    ]
    assert heads == []  # planning costs a LIST, not a request per image

    classify_all(settings, "manual__one")
    table = records._execute(
        settings, "SELECT source_key, source_etag, image_sha256 FROM predictions ORDER BY 1"
    )
    listed = {i["key"]: i["etag"] for i in pending.list_incoming(settings)}
    assert [(key, etag) for key, etag, _sha in table] == sorted(listed.items())
    for key, _etag, sha in table:
        body = aws.s3.get_object(Bucket=settings.validated_bucket, Key=key)["Body"].read()
        assert sha == hashlib.sha256(body).hexdigest()
    assert pending.pending_images(1, settings) == []

    # the same content under a new key: read once, known by its sha256, not classified again
    put_incoming(aws, settings, "copy-of-red-0.jpg", colour_image(RED, seed=0))
    assert [i["key"] for i in pending.pending_images(1, settings)] == ["incoming/copy-of-red-0.jpg"]
    (summary,) = classify_all(settings, "manual__copy")
    assert (summary["images"], summary["classified"], summary["errors"]) == (1, 0, 1)
    (line,) = result_lines(aws, settings, [summary])
    assert line["error"] == "duplicate" and "incoming/red-0.jpg" in line["detail"]
    assert records._execute(settings, "SELECT count(*) FROM predictions") == [(3,)]
    assert aws.keys(settings.output_bucket, "predictions/red/") == [
        f"predictions/red/red-{i}.jpg" for i in range(3)
    ]
    assert pending.pending_images(1, settings) == []
    # new content under an existing key is pending again
    put_incoming(aws, settings, "red-1.jpg", colour_image(GREEN, seed=9))
    assert [i["key"] for i in pending.pending_images(1, settings)] == ["incoming/red-1.jpg"]
    assert heads == []  # nor does placing: the copy's checksum proves it


def test_an_image_written_again_with_its_own_bytes_is_classified_once_more_in_place(scene):
    """Under SSE-KMS, writing the same bytes again gives the object a new ETag: the key is
    read again and its row and file are rewritten where they are, nothing doubled."""
    aws, settings = scene
    data = colour_image(RED, seed=5)
    put_incoming(aws, settings, "again.jpg", data)
    classify_all(settings, "manual__first")
    first = records._execute(settings, "SELECT image_sha256, output_key FROM predictions")
    put_incoming(aws, settings, "again.jpg", data)
    assert [i["key"] for i in pending.pending_images(1, settings)] == ["incoming/again.jpg"]
    (summary,) = classify_all(settings, "manual__again")
    assert (summary["classified"], summary["errors"]) == (1, 0)
    assert records._execute(settings, "SELECT image_sha256, output_key FROM predictions") == first
    assert aws.keys(settings.output_bucket, "predictions/red/") == ["predictions/red/again.jpg"]
    assert pending.pending_images(1, settings) == []


def test_rows_from_before_prediction_sources_are_confirmed_by_sha256_once(scene, head_calls):
    aws, settings = scene
    put_incoming(aws, settings, "a.jpg", colour_image(RED, seed=1))
    put_incoming(aws, settings, "b.jpg", colour_image(RED, seed=2))
    classify_all(settings, "manual__legacy")
    # as written before prediction_sources existed; b's row is for other bytes
    records._execute(settings, "TRUNCATE prediction_sources")
    records._execute(
        settings,
        "UPDATE predictions SET image_sha256 = repeat('0', 64) WHERE source_key = 'incoming/b.jpg'",
    )
    head_calls.clear()

    assert [i["key"] for i in pending.pending_images(1, settings)] == ["incoming/b.jpg"]
    # only images with a row from before prediction_sources cost a HEAD
    assert sorted(head_calls) == ["incoming/a.jpg", "incoming/b.jpg"]
    # a's confirmation is recorded: the next planning needs no HEAD for it
    head_calls.clear()
    assert [i["key"] for i in pending.pending_images(1, settings)] == ["incoming/b.jpg"]
    assert head_calls == ["incoming/b.jpg"]


def test_copy_is_verified_by_its_checksum_and_a_changed_source_is_not_placed(scene, head_calls):
    aws, settings = scene
    key = put_incoming(aws, settings, "red.jpg", colour_image(RED, seed=3))
    s3 = client("s3", settings)
    image = classify.fetch_one(s3, settings, {"key": key})
    old = "predictions/blue/red.jpg"
    aws.s3.put_object(Bucket=settings.output_bucket, Key=old, Body=b"earlier placement")

    def move(**fields):
        job = placement.Placement(key, "predictions/red/red.jpg", image.size, {old}, **fields)
        return placement.place(s3, settings, job)

    assert move(source_etag=image.etag, sha256=image.sha256) == [old]
    assert head_calls == []  # the copy's own checksum proved it
    assert aws.keys(settings.output_bucket, "predictions/") == ["predictions/red/red.jpg"]
    placed = aws.s3.head_object(
        Bucket=settings.output_bucket, Key="predictions/red/red.jpg", ChecksumMode="ENABLED"
    )
    assert placed["ChecksumSHA256"] == placement.b64_sha256(image.sha256)
    assert placed["ETag"].strip('"') != image.etag  # a copy's ETag is its own (SSE-KMS)

    # the source is replaced after it was read: the move is refused, nothing is deleted
    put_incoming(aws, settings, "red.jpg", colour_image(GREEN, seed=4))
    aws.s3.put_object(Bucket=settings.output_bucket, Key=old, Body=b"earlier placement")
    with pytest.raises(placement.SourceChanged):
        move(source_etag=image.etag, sha256=image.sha256)
    # unconditional, the copy's checksum tells the other bytes apart
    with pytest.raises(placement.SourceChanged):
        move(sha256=image.sha256)
    assert old in aws.keys(settings.output_bucket, "predictions/")
    assert head_calls == []


@pytest.mark.parametrize("threads", [4, 1])
def test_a_batch_classifies_the_same_with_and_without_threads(scene, threads):
    """One request at a time and a pool give the same result."""
    import dataclasses

    aws, settings = scene
    settings = dataclasses.replace(settings, classify_s3_threads=threads)
    for i in range(5):
        put_incoming(aws, settings, f"red-{i}.jpg", colour_image(RED, seed=i))
        put_incoming(aws, settings, f"green-{i}.jpg", colour_image(GREEN, seed=i))
    put_incoming(aws, settings, "twin-of-red-0.jpg", colour_image(RED, seed=0))
    put_incoming(aws, settings, "broken.jpg", b"\xff\xd8 not really a jpeg")
    model = run.find_model(settings)
    (batch,) = run.plan(settings, model, f"manual__threads{threads}", 100)
    summary = run.classify(settings, batch, model, f"manual__threads{threads}")
    # the twin has the same content: read, known by its sha256, not classified again
    assert summary | {"batch_key": None, "results_key": None} == {
        "batch_key": None,
        "results_key": None,
        "images": 12,
        "classified": 10,
        "uncertain": 0,
        "errors": 2,
        "moved": 0,
    }
    assert aws.keys(settings.output_bucket, "predictions/") == sorted(
        [f"predictions/red/red-{i}.jpg" for i in range(5)]
        + [f"predictions/green/green-{i}.jpg" for i in range(5)]
    )
    reasons = records._execute(
        settings, "SELECT source_key, error_reason FROM predictions WHERE error_reason IS NOT NULL"
    )
    assert reasons == [("incoming/broken.jpg", records.UNREADABLE_IMAGE)]
    errors = {
        line["source_key"]: (line["error"], line["detail"])
        for line in result_lines(aws, settings, [summary])
        if line["error"]
    }
    assert errors["incoming/twin-of-red-0.jpg"] == (
        "duplicate",
        "same content as incoming/red-0.jpg",
    )
    assert errors.keys() == {"incoming/broken.jpg", "incoming/twin-of-red-0.jpg"}
    assert pending.pending_images(1, settings) == []


def test_s3_requests_run_on_24_threads_on_both_targets(settings):
    import dataclasses

    assert settings.classify_s3_threads == 24
    one = dataclasses.replace(settings, classify_s3_threads=1)
    assert isinstance(classify.s3_executor(one, 100), classify.InlineExecutor)
    on_aws = dataclasses.replace(settings, target="aws")
    for target in (settings, on_aws):
        with classify.s3_executor(target, 3) as pool:
            assert pool._max_workers == 3  # never more threads than requests
        with classify.s3_executor(target, 100) as pool:
            assert pool._max_workers == settings.classify_s3_threads
    future = classify.InlineExecutor().submit(lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        future.result()  # an error reaches the caller where a pool's would
