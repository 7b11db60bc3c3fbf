"""validate_images through real Airflow runs (dag.test) on the emulator: corpus, failures,
overlapping runs, metrics."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import unquote

import pytest
from conftest import ADMIN_CONN, run_dag
from validation_corpus import corpus

from image_mlops_dev.stack.settings import get_stack_settings

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def _put_corpus(aws, settings, extra_metadata=None):
    cases = corpus()
    for name, (data, _) in cases.items():
        aws.s3.put_object(
            Bucket=settings.raw_bucket, Key=name, Body=data, Metadata=extra_metadata or {}
        )
    return cases


def _reasons(aws, settings, run_id):
    from image_mlops import s3layout

    body = aws.s3.get_object(Bucket=settings.raw_bucket, Key=s3layout.reasons_key(run_id))
    return [json.loads(line) for line in body["Body"].read().decode().splitlines()]


def _raw_images(aws, settings):
    return [k for k in aws.keys(settings.raw_bucket) if k.startswith(("labeled/", "incoming/"))]


def test_corpus_ends_where_it_should(clean_aws, admin, settings, dag_bag):
    aws = clean_aws
    cases = _put_corpus(aws, settings, {"product-id": "p-42"})
    # unsafe keys: climbing out of the area, and a labelled image without a class folder
    good = cases["labeled/cats/good.jpg"][0]
    aws.s3.put_object(Bucket=settings.raw_bucket, Key="incoming/../../escape.jpg", Body=good)
    aws.s3.put_object(Bucket=settings.raw_bucket, Key="labeled/noclass.jpg", Body=b"x")

    run = run_dag(dag_bag, "validate_images")
    assert run.state == "success"
    summary = run.get_task_instance("finalize_run").xcom_pull(task_ids="finalize_run")
    run_id = run.run_id

    assert _raw_images(aws, settings) == []  # nothing left behind
    valid = {k for k, (_, reason) in cases.items() if reason is None}
    validated = {k for k in aws.keys(settings.validated_bucket) if not k.startswith("_index/")}
    assert validated == valid
    reasons = {r["key"]: r for r in _reasons(aws, settings, run_id)}
    expected = {k: reason for k, (_, reason) in cases.items() if reason}
    expected["incoming/../../escape.jpg"] = "unsafe_key"
    expected["labeled/noclass.jpg"] = "unsafe_key"
    assert {k: r["reason"] for k, r in reasons.items()} == expected
    assert set(reasons["incoming/truncated.jpg"]) == {
        "error_key",
        "key",
        "reason",
        "detail",
        "sha256",
        "size",
        "run_id",
    }
    # quarantined originals are byte-identical
    from image_mlops import s3layout

    for key in cases:
        if cases[key][1]:
            got = aws.s3.get_object(
                Bucket=settings.raw_bucket, Key=s3layout.error_key(run_id, key)
            )["Body"].read()
            assert got == cases[key][0], key

    # metadata of a validated image, the catalogue's metadata preserved
    head = aws.s3.head_object(Bucket=settings.validated_bucket, Key="incoming/png named.jpg")
    meta = head["Metadata"]
    assert meta["product-id"] == "p-42"
    assert (meta["format"], meta["width"], meta["height"], meta["mode"]) == (
        "PNG",
        "40",
        "40",
        "RGB",
    )
    assert unquote(meta["source-key"]) == "incoming/png named.jpg"
    assert meta["run-id"] == run_id and "extension-mismatch" in meta
    assert head["ContentType"] == "image/png"
    uni = "incoming/with space ünïcødé 画像.jpg"
    assert (
        unquote(
            aws.s3.head_object(Bucket=settings.validated_bucket, Key=uni)["Metadata"]["source-key"]
        )
        == uni
    )

    assert summary["in"] == summary["validated"] + summary["quarantined"] == len(cases) + 2
    assert summary["validated"] == len(valid)
    assert summary["by_reason"]["duplicate"] == 1
    assert summary["validated_by_area"] == {"labeled": 5, "incoming": 5}

    # assets emitted for both areas; CloudWatch counts per reason
    for task_id in ("emit_labeled", "emit_incoming"):
        assert run.get_task_instance(task_id).state == "success"
    now = dt.datetime.now(dt.UTC)
    stats = admin.cloudwatch.get_metric_statistics(  # the test reads; the worker only writes
        Namespace=settings.cloudwatch_namespace,
        MetricName="ValidationResults",
        Dimensions=[
            {"Name": "Outcome", "Value": "quarantined"},
            {"Name": "Reason", "Value": "duplicate"},
        ],
        StartTime=now - dt.timedelta(minutes=10),
        EndTime=now + dt.timedelta(minutes=5),
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in stats["Datapoints"]) >= 1

    # a second run sees the validated image again → duplicate against the content index
    aws.s3.put_object(Bucket=settings.raw_bucket, Key="incoming/again.jpg", Body=good)
    run2 = run_dag(dag_bag, "validate_images")
    reasons2 = _reasons(aws, settings, run2.run_id)
    assert [(r["key"], r["reason"]) for r in reasons2] == [("incoming/again.jpg", "duplicate")]
    assert run2.get_task_instance("emit_incoming").state == "skipped"
    assert run2.get_task_instance("emit_labeled").state == "skipped"


def test_an_s3_error_on_one_object_skips_only_that_object(clean_aws, settings):
    """The emulator fails every DELETE of one raw object: that object is skipped with its
    reason, the others are done, and the next run finishes it (counted once in all)."""
    import faults

    from image_mlops.validation import pipeline

    aws = clean_aws
    cases = _put_corpus(aws, settings)
    victim = "incoming/UPPER.PNG"
    faults.clear(get_stack_settings().emulator_url)
    faults.add(
        get_stack_settings().emulator_url,
        action="error",
        method="DELETE",
        bucket=settings.raw_bucket,
        key_prefix=victim,
        times=100,
    )
    try:
        manifests = pipeline.plan_run(settings, "manual__s3-error")
        for key in manifests:
            pipeline.validate_batch(settings, key)
        first = pipeline.finalize_run(settings, "manual__s3-error", manifests)
    finally:
        faults.clear(get_stack_settings().emulator_url)
    assert first["skipped"] == 1 and first["skipped_by_reason"] == {"error": 1}
    assert _raw_images(aws, settings) == [victim]
    assert first["in"] == len(cases) - 1

    manifests = pipeline.plan_run(settings, "manual__s3-error-next")
    for key in manifests:
        pipeline.validate_batch(settings, key)
    second = pipeline.finalize_run(settings, "manual__s3-error-next", manifests)
    assert second["in"] == 1 and second["validated"] == 1  # its copy was already verified
    assert _raw_images(aws, settings) == []
    validated = {k for k in aws.keys(settings.validated_bucket) if not k.startswith("_index/")}
    assert validated == {k for k, (_, r) in cases.items() if r is None}
    assert first["in"] + second["in"] == len(cases)
    assert aws.keys(settings.raw_bucket, "_claims/") == []


def test_one_odd_object_never_holds_back_its_batch(clean_aws, settings, dag_bag):
    """Reproduction, and the bad-input corpus for keys and metadata: non-ASCII metadata
    (sent as raw UTF-8, as S3 accepts it), user metadata that S3 takes but that cannot take
    ours beside it, 1,000-byte keys, keys that differ only in their folder."""
    import hashlib

    from validation_corpus import photo_jpeg, put_raw_http

    from image_mlops import s3layout

    aws = clean_aws
    raw = settings.raw_bucket
    good = {f"incoming/good-{i:02d}.jpg": photo_jpeg(seed=i, size=64) for i in range(20)}
    for key, data in good.items():
        aws.s3.put_object(Bucket=raw, Key=key, Body=data)
    non_ascii = photo_jpeg(seed=50, size=64)
    status = put_raw_http(
        get_stack_settings().emulator_url,
        raw,
        "incoming/café.jpg",
        {"x-amz-meta-title": "Café ☕".encode()},
        non_ascii,
    )
    assert status == 200
    crowded = photo_jpeg(seed=51, size=64)  # 2,040 bytes of metadata: S3 takes it, not ours too
    aws.s3.put_object(
        Bucket=raw, Key="incoming/crowded.jpg", Body=crowded, Metadata={"notes": "n" * 2035}
    )
    long_valid = "incoming/" + "v" * (1000 - len("incoming/") - 4) + ".jpg"
    long_bad = "incoming/" + "b" * (1000 - len("incoming/") - 4) + ".jpg"
    assert len(long_valid.encode()) == len(long_bad.encode()) == 1000
    aws.s3.put_object(Bucket=raw, Key=long_valid, Body=photo_jpeg(seed=52, size=64))
    aws.s3.put_object(Bucket=raw, Key=long_bad, Body=b"not an image at all")
    shop_a, shop_b = photo_jpeg(seed=53, size=64), photo_jpeg(seed=54, size=64)
    aws.s3.put_object(Bucket=raw, Key="incoming/shopA/1.jpg", Body=shop_a)
    aws.s3.put_object(Bucket=raw, Key="incoming/shopB/1.jpg", Body=shop_b)

    run = run_dag(dag_bag, "validate_images")
    assert run.state == "success"
    assert run.get_task_instance("emit_incoming").state == "success"  # the Asset event fired
    summary = run.get_task_instance("finalize_run").xcom_pull(task_ids="finalize_run")
    assert _raw_images(aws, settings) == []
    assert summary["in"] == len(good) + 6 and summary["skipped"] == 0
    assert summary["by_reason"] == {"metadata_unsupported": 1, "not_an_image": 1}

    validated = set(aws.keys(settings.validated_bucket))
    assert set(good) | {"incoming/café.jpg", long_valid, "incoming/shopA/1.jpg"} <= validated
    assert "incoming/shopB/1.jpg" in validated
    title = aws.s3.head_object(Bucket=settings.validated_bucket, Key="incoming/café.jpg")
    assert title["Metadata"]["title"].startswith("=?UTF-8?B?")  # carried over as S3 gave it
    long_meta = aws.s3.head_object(Bucket=settings.validated_bucket, Key=long_valid)["Metadata"]
    assert long_meta["source-key-sha256"] == hashlib.sha256(long_valid.encode()).hexdigest()
    assert sum(len(k) + len(v) for k, v in long_meta.items()) <= 2048

    reasons = {r["key"]: r for r in _reasons(aws, settings, run.run_id)}
    assert reasons["incoming/crowded.jpg"]["reason"] == "metadata_unsupported"
    hashed = reasons[long_bad]["error_key"]
    assert "/_long-keys/" in hashed and len(hashed.encode()) <= 1024
    quarantined = aws.s3.get_object(Bucket=raw, Key=hashed)
    assert quarantined["Body"].read() == b"not an image at all"
    crowded_copy = aws.s3.get_object(Bucket=raw, Key=reasons["incoming/crowded.jpg"]["error_key"])
    assert crowded_copy["Body"].read() == crowded
    assert sum(len(k) + len(v) for k, v in crowded_copy["Metadata"].items()) <= 2048
    assert s3layout.error_key(run.run_id, "incoming/crowded.jpg").endswith("incoming/crowded.jpg")


def test_overlapping_runs_leave_each_image_in_one_place(clean_aws, settings):
    """Two runs list the same objects; their batches interleave."""
    from image_mlops.validation import pipeline

    aws = clean_aws
    cases = _put_corpus(aws, settings)
    a = pipeline.plan_run(settings, "run-a")
    b = pipeline.plan_run(settings, "run-b")
    # run b takes the first half of the objects while run a is still planning/working
    pipeline.validate_batch(settings, b[0])
    for key in a:
        pipeline.validate_batch(settings, key)
    for key in b:
        pipeline.validate_batch(settings, key)  # b re-runs its own batch too: idempotent
    sa = pipeline.finalize_run(settings, "run-a", a)
    sb = pipeline.finalize_run(settings, "run-b", b)

    assert _raw_images(aws, settings) == []
    validated = {k for k in aws.keys(settings.validated_bucket) if not k.startswith("_index/")}
    assert validated == {k for k, (_, r) in cases.items() if r is None}
    errors = [k for k in aws.keys(settings.raw_bucket, "errors/") if not k.endswith(".jsonl")]
    assert len(errors) == sum(1 for _, r in cases.values() if r)
    # every object counted by exactly one run
    assert sa["in"] + sb["in"] == len(cases)
    assert sa["validated"] + sb["validated"] == len(validated)


def test_copies_meet_in_one_batch_on_sse_kms_buckets(clean_aws, settings):
    """The raw bucket encrypts with SSE-KMS, as the template says: two uploads of the same
    bytes have two ETags, neither the MD5. Copies still meet in one batch (by size), where the
    first key in sorted order wins, even with the batches run last first; every object ends
    in exactly one place, and each validated copy is proved by its SHA-256 checksum."""
    import base64
    import dataclasses
    import hashlib

    from validation_corpus import photo_jpeg

    from image_mlops.validation import pipeline

    aws = clean_aws
    settings = dataclasses.replace(settings, validation_batch_size=2)
    original = photo_jpeg(1, size=96)
    images = {"incoming/a.jpg": original, "incoming/z-copy.jpg": original}
    images |= {f"incoming/m{i}.jpg": photo_jpeg(10 + i, size=100 + 8 * i) for i in range(4)}
    assert len({len(data) for data in images.values()}) == 5  # only the copies share a size
    etags = {}
    for key, data in images.items():
        put = aws.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=data)
        assert put["ServerSideEncryption"] == "aws:kms"
        etags[key] = put["ETag"].strip('"')
    assert etags["incoming/a.jpg"] != etags["incoming/z-copy.jpg"]
    assert hashlib.md5(original).hexdigest() not in etags.values()

    manifests = pipeline.plan_run(settings, "manual__kms")
    assert len(manifests) == 3
    for key in reversed(manifests):
        pipeline.validate_batch(settings, key)
    summary = pipeline.finalize_run(settings, "manual__kms", manifests)

    assert (summary["listed"], summary["in"], summary["skipped"]) == (6, 6, 0)
    assert (summary["validated"], summary["quarantined"]) == (5, 1)
    assert _raw_images(aws, settings) == []
    validated = {k for k in aws.keys(settings.validated_bucket) if not k.startswith("_index/")}
    assert validated == set(images) - {"incoming/z-copy.jpg"}
    (reason,) = _reasons(aws, settings, "manual__kms")
    assert (reason["key"], reason["reason"]) == ("incoming/z-copy.jpg", "duplicate")
    assert "incoming/a.jpg" in reason["detail"]
    for key in validated:
        head = aws.s3.head_object(Bucket=settings.validated_bucket, Key=key, ChecksumMode="ENABLED")
        digest = hashlib.sha256(images[key]).digest()
        assert head["ChecksumSHA256"] == base64.b64encode(digest).decode()
        assert head["Metadata"]["sha256"] == digest.hex()


def test_a_copy_is_verified_by_its_bytes_when_its_checksum_is_of_parts(clean_aws, settings):
    """A multipart object's ChecksumSHA256 is a checksum of its parts' checksums (``...-N``),
    no SHA-256 of its bytes: verification hashes the bytes instead, and tells others apart."""
    import hashlib

    from image_mlops.validation import mover

    s3, bucket, key = clean_aws.s3, settings.validated_bucket, "incoming/parts.bin"
    parts = [b"a" * 5 * 1024 * 1024, b"b" * 100]
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm="SHA256")
    done = []
    for number, body in enumerate(parts, start=1):
        part = s3.upload_part(
            Bucket=bucket,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="SHA256",
        )
        done.append(
            {"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]}
        )
    s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": done}
    )
    assert mover.head(s3, bucket, key)["ChecksumSHA256"].endswith("-2")
    data = b"".join(parts)
    mover.verify(s3, bucket, key, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    with pytest.raises(mover.MoveError):
        other = hashlib.sha256(data + b"!").hexdigest()
        mover.verify(s3, bucket, key, sha256=other, size=len(data))


def test_dag_shape(dag_bag, settings):
    dag = dag_bag.get_dag("validate_images")
    assert dag.catchup is False
    assert dag.timetable.expression == settings.validation_schedule
    batch = dag.get_task("validate_batch")
    assert batch.max_active_tis_per_dag == settings.validation_max_active_batches
    outlets = {
        t: [a.name for a in dag.get_task(t).outlets] for t in ("emit_labeled", "emit_incoming")
    }
    assert outlets == {
        "emit_labeled": ["validated_labeled_images"],
        "emit_incoming": ["validated_incoming_images"],
    }
    branch = dag.get_task("choose_engine")
    assert branch.downstream_task_ids == {"validate_batch", "stepfunctions.state_machine_request"}
    assert "stepfunctions.run_state_machine" in dag.task_ids
    run_state_machine = dag.get_task("stepfunctions.run_state_machine")
    assert run_state_machine.deferrable


def test_task_instances_grow_with_batches_not_images(clean_aws, settings, dag_bag, monkeypatch):
    from validation_corpus import image_bytes

    monkeypatch.setenv("IMAGE_MLOPS_VALIDATION_BATCH_SIZE", "5")
    for i in range(12):
        aws_key = f"incoming/n{i:02d}.png"
        clean_aws.s3.put_object(
            Bucket=settings.raw_bucket, Key=aws_key, Body=image_bytes("PNG", (40, 40), seed=i)
        )
    run = run_dag(dag_bag, "validate_images")
    mapped = [t for t in run.get_task_instances() if t.task_id == "validate_batch"]
    assert len(mapped) == 3  # ceil(12 / 5)
    summary = run.get_task_instance("finalize_run").xcom_pull(task_ids="finalize_run")
    assert summary["validated"] == 12 and summary["batches"] == 3


def test_state_machine_input_starts_an_execution_on_the_emulator(admin, settings):
    """A machine of the test's own (the stack's deploying user's), started with the input the
    DAG builds."""
    from pathlib import Path

    from image_mlops.validation import pipeline

    root = Path(__file__).resolve().parents[2]
    definition = (
        root / "plugins/image_mlops/include/statemachines/validate_images.asl.json"
    ).read_text()
    arn = f"arn:aws:lambda:{settings.region}:{settings.account_id}:function:validate"
    machine = admin.stepfunctions.create_state_machine(
        name="validate-images-input-test",
        definition=definition.replace("${ValidateFunctionArn}", arn),
        roleArn=f"arn:aws:iam::{settings.account_id}:role/image-mlops-validate-states",
    )["stateMachineArn"]
    sfn_input = pipeline.state_machine_input(settings, "r1", ["_runs/r1/batch-0001.json"])
    execution = admin.stepfunctions.start_execution(
        stateMachineArn=machine, input=json.dumps(sfn_input)
    )["executionArn"]
    described = admin.stepfunctions.describe_execution(executionArn=execution)
    assert json.loads(described["input"])["batches"][0]["manifest_key"].endswith("0001.json")
    admin.stepfunctions.delete_state_machine(stateMachineArn=machine)


def test_a_retried_finalize_publishes_its_counts_once(clean_aws, settings):
    import dataclasses
    import uuid

    from image_mlops.monitoring import metrics as m
    from image_mlops.monitoring.publish import metrics_hook
    from image_mlops.validation import pipeline

    # a namespace of its own, which the worker may not write to: the bootstrap key's connection
    settings = dataclasses.replace(
        settings, cloudwatch_namespace=f"Once{uuid.uuid4().hex[:8]}", aws_conn_id=ADMIN_CONN
    )
    cases = _put_corpus(clean_aws, settings)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    manifests = pipeline.plan_run(settings, "manual__finalize-twice")
    for key in manifests:
        pipeline.validate_batch(settings, key)
    first = pipeline.finalize_run(settings, "manual__finalize-twice", manifests)
    retry = pipeline.finalize_run(settings, "manual__finalize-twice", manifests)
    assert first["metrics_published"] is True and retry["metrics_published"] is False
    query = {
        "Id": "v",
        "MetricStat": {
            "Metric": {
                "Namespace": settings.cloudwatch_namespace,
                "MetricName": m.VALIDATION_RESULTS,
                "Dimensions": [
                    {"Name": m.DIM_OUTCOME, "Value": m.OUTCOME_VALIDATED},
                    {"Name": m.DIM_REASON, "Value": m.REASON_NONE},
                ],
            },
            "Period": 3600,
            "Stat": "Sum",
        },
    }
    end = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    data = metrics_hook(settings).get_metric_data([query], start, end)
    assert sum(v for _, v in data["v"]) == sum(1 for _, r in cases.values() if r is None)
