"""classify_images end to end on the private stack: real DAG runs, emulator, PostgreSQL."""

from __future__ import annotations

import json

import pytest
from classify_fixtures import (
    colour_image,
    deploy_production_model,
    put_incoming,
    remove_production_endpoint,
)
from conftest import endpoint_invocations, run_dag

from image_mlops.classification import records, run

pytestmark = pytest.mark.stack

RED, GREEN, BLUE, GREY = (220, 30, 30), (30, 200, 40), (30, 40, 220), (128, 128, 128)


@pytest.fixture
def empty_table(local_stack, settings):
    records.ensure_predictions_table(settings)
    records._execute(settings, "TRUNCATE predictions")
    return settings


def rows(settings) -> list[tuple]:
    return records._execute(
        settings,
        "SELECT source_key, model_version, predicted_class, uncertain, error_reason, output_key,"
        " input_stats FROM predictions ORDER BY source_key, model_version",
    )


def class_files(aws, settings) -> list[str]:
    """Every image in a class folder (the run manifests aside)."""
    return [k for k in aws.keys(settings.output_bucket, "predictions/") if "_manifests/" not in k]


def task_states(dag_run) -> dict[str, str]:
    return {ti.task_id: ti.state for ti in dag_run.get_task_instances()}


def put_scene(aws, settings) -> None:
    for i in range(3):
        put_incoming(aws, settings, f"red-{i}.jpg", colour_image(RED, seed=i))
    put_incoming(aws, settings, "green-0.png", colour_image(GREEN, "PNG", seed=5))
    put_incoming(aws, settings, "blue-0.jpg", colour_image(BLUE, seed=6))
    put_incoming(aws, settings, "grey-0.jpg", colour_image(GREY, seed=7))
    # passed validation once, but unreadable now (e.g. damaged at rest)
    put_incoming(aws, settings, "broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg")


def test_no_production_model_classifies_nothing(dag_bag, clean_aws, empty_table):
    settings = empty_table
    remove_production_endpoint(settings)
    put_incoming(clean_aws, settings, "red-0.jpg", colour_image(RED))

    assert run.find_model(settings) is None
    dag_run = run_dag(dag_bag, "classify_images")

    states = task_states(dag_run)
    assert dag_run.state == "success"
    assert states["find_production_model"] == "success"
    assert {states[t] for t in ("plan_batches", "classify_batch", "write_run_manifest")} == {
        "skipped"
    }
    assert clean_aws.keys(settings.output_bucket) == []
    assert rows(settings) == []


#: Where put_scene's readable images go with the sample model (the broken one goes nowhere).
SCENE_PLACEMENTS = [
    "predictions/_uncertain/grey-0.jpg",
    "predictions/blue/blue-0.jpg",
    "predictions/green/green-0.png",
    "predictions/red/red-0.jpg",
    "predictions/red/red-1.jpg",
    "predictions/red/red-2.jpg",
]


def test_classifies_into_class_folders_then_rerun_and_new_model(dag_bag, clean_aws, empty_table):
    settings = empty_table
    aws = clean_aws
    deploy_production_model(settings, version=1)
    put_scene(aws, settings)

    # --- first run: folders, uncertain, unreadable, manifest, rows ------------------------
    first = run_dag(dag_bag, "classify_images", conf={"batch_size": 3})
    assert first.state == "success", task_states(first)
    placed = aws.keys(settings.output_bucket, "predictions/")
    folders = [k for k in placed if not k.startswith("predictions/_manifests/")]
    assert folders == SCENE_PLACEMENTS
    copy = aws.s3.get_object(Bucket=settings.output_bucket, Key="predictions/green/green-0.png")
    assert copy["Body"].read() == colour_image(GREEN, "PNG", seed=5)

    manifests = [k for k in placed if k.startswith("predictions/_manifests/")]
    assert len(manifests) == 1
    body = aws.s3.get_object(Bucket=settings.output_bucket, Key=manifests[0])["Body"].read()
    lines = {line["source_key"]: line for line in map(json.loads, body.decode().splitlines())}
    assert len(lines) == 7
    assert lines["incoming/red-0.jpg"]["class"] == "red"
    assert lines["incoming/red-0.jpg"]["confidence"] >= settings.confidence_threshold
    assert lines["incoming/red-0.jpg"]["model_package_version"] == 1
    assert lines["incoming/red-0.jpg"]["endpoint"] == settings.endpoint_name("production")
    assert len(lines["incoming/red-0.jpg"]["top3"]) == 3
    assert lines["incoming/grey-0.jpg"]["uncertain"] is True
    assert lines["incoming/grey-0.jpg"]["confidence"] < settings.confidence_threshold
    assert lines["incoming/broken.jpg"]["error"] == "unreadable_image"
    assert lines["incoming/broken.jpg"]["key"] is None

    table = rows(settings)
    assert len(table) == 7
    by_key = {r[0]: r for r in table}
    assert by_key["incoming/broken.jpg"][4] == "unreadable_image"
    assert by_key["incoming/grey-0.jpg"][3] is True
    assert by_key["incoming/red-1.jpg"][2:6] == (
        "red",
        False,
        None,
        "predictions/red/red-1.jpg",
    )
    assert set(by_key["incoming/red-1.jpg"][6]) == {
        "brightness",
        "contrast",
        "saturation",
        "width",
        "height",
    }
    classify_results = first.get_task_instances()
    assert sum(1 for ti in classify_results if ti.task_id == "classify_batch") == 3

    # --- rerun of the same run's batch (a retried task) and a new run: no duplicates ------
    model = run.find_model(settings)
    batch_key = "_work/classify/" + manifests[0].rsplit("/", 1)[-1].removesuffix(".jsonl")
    batch = {"batch_key": batch_key + "/batches/batch-00000.json", "index": 0}
    run.classify(settings, batch, model, first.run_id)
    second = run_dag(dag_bag, "classify_images")
    assert second.state == "success"
    assert task_states(second)["classify_batch"] == "skipped"  # nothing pending
    assert class_files(aws, settings) == folders
    assert rows(settings) == table

    # --- a new production model version: new rows, images follow the new placement -------
    deploy_production_model(
        settings,
        version=2,
        centroids={"crimson": RED, "green": GREEN, "blue": BLUE},
    )
    third = run_dag(dag_bag, "classify_images")
    assert third.state == "success", task_states(third)
    folders_v2 = class_files(aws, settings)
    assert folders_v2 == [
        "predictions/_uncertain/grey-0.jpg",
        "predictions/blue/blue-0.jpg",
        "predictions/crimson/red-0.jpg",
        "predictions/crimson/red-1.jpg",
        "predictions/crimson/red-2.jpg",
        "predictions/green/green-0.png",
    ]
    table_v2 = rows(settings)
    assert len(table_v2) == 14
    assert {(r[0], r[1]) for r in table_v2} == {(r[0], v) for r in table for v in (1, 2)}
    assert {r[2] for r in table_v2 if r[0] == "incoming/red-2.jpg"} == {"red", "crimson"}


def test_images_of_one_basename_in_two_folders_both_keep_their_copy(
    dag_bag, clean_aws, empty_table
):
    """Reproduction: incoming/shopA/1.jpg and incoming/shopB/1.jpg (different images) were
    both copied to predictions/red/1.jpg, and a later move deleted the survivor."""
    settings = empty_table
    aws = clean_aws
    deploy_production_model(settings, version=1)
    shop_a = colour_image(RED, seed=1)
    shop_b = colour_image(RED, seed=2)
    put_incoming(aws, settings, "shopA/1.jpg", shop_a)
    put_incoming(aws, settings, "shopB/1.jpg", shop_b)

    first = run_dag(dag_bag, "classify_images")
    assert first.state == "success", task_states(first)
    assert class_files(aws, settings) == [
        "predictions/red/shopA/1.jpg",
        "predictions/red/shopB/1.jpg",
    ]

    # a new model moves only shopA's image (shopB is re-placed on its own path)
    deploy_production_model(
        settings, version=2, centroids={"crimson": RED, "green": GREEN, "blue": BLUE}
    )
    second = run_dag(dag_bag, "classify_images")
    assert second.state == "success", task_states(second)
    placed = class_files(aws, settings)
    assert placed == ["predictions/crimson/shopA/1.jpg", "predictions/crimson/shopB/1.jpg"]
    for key, data in (("shopA/1.jpg", shop_a), ("shopB/1.jpg", shop_b)):
        got = aws.s3.get_object(Bucket=settings.output_bucket, Key=f"predictions/crimson/{key}")
        assert got["Body"].read() == data


def test_a_large_run_goes_through_one_batch_transform_job(
    dag_bag, clean_aws, empty_table, monkeypatch
):
    """Above the threshold, the run's images go to a SageMaker Batch Transform job, which the
    emulator runs with the model's own inference code; the batches read its output."""
    settings = empty_table
    aws = clean_aws
    monkeypatch.setenv("IMAGE_MLOPS_BATCH_TRANSFORM_THRESHOLD", "3")
    deploy_production_model(settings, version=1)
    put_scene(aws, settings)

    dag_run = run_dag(dag_bag, "classify_images", conf={"batch_size": 3})
    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert states["transform_request"] == states["batch_transform"] == "success"
    request = dag_run.get_task_instance("transform_request").xcom_pull(task_ids="transform_request")
    job = aws.sagemaker.describe_transform_job(TransformJobName=request["TransformJobName"])
    assert job["TransformJobStatus"] == "Completed"
    out_prefix = request["TransformOutput"]["S3OutputPath"].split("/", 3)[3]
    outputs = aws.keys(settings.output_bucket, out_prefix)
    assert len(outputs) == 3 and all(k.endswith(".jsonl.out") for k in outputs)  # 7 images / 3
    assert class_files(aws, settings) == SCENE_PLACEMENTS
    errors = {r[0]: r[4] for r in rows(settings)}
    assert errors["incoming/broken.jpg"] == "unreadable_image"


def test_a_small_run_skips_the_transform_job(dag_bag, clean_aws, empty_table):
    settings = empty_table
    aws = clean_aws
    deploy_production_model(settings, version=1)
    put_incoming(aws, settings, "red-0.jpg", colour_image(RED, seed=1))
    before = endpoint_invocations(settings.endpoint_name("production"))
    dag_run = run_dag(dag_bag, "classify_images")
    states = task_states(dag_run)
    assert dag_run.state == "success", states
    assert states["transform_request"] == "success" and states["batch_transform"] == "skipped"
    assert class_files(aws, settings) == ["predictions/red/red-0.jpg"]
    # predicted by the endpoint's model server (InvokeEndpoint), not in the worker
    assert endpoint_invocations(settings.endpoint_name("production")) == before + 1
