"""The extract_product_catalog DAG end to end: sample catalogue → manifest, images, texts."""

from __future__ import annotations

import pytest
from conftest import run_dag

from image_mlops import s3layout
from image_mlops.catalog.pipeline import read_manifest
from image_mlops.catalog.sample import EDGE_CASES, REGULAR_PRODUCTS, load_sample

pytestmark = pytest.mark.stack

FAILED_AS = {
    41: "no_image_url",
    42: "no_image_url",
    51: "not_found",
    52: "unsupported_url_scheme",
    53: "not_an_image_content_type",
    54: "no_image_url",
}


@pytest.fixture
def sample(clean_aws, settings, airflow_db):
    load_sample(settings, s3=clean_aws.s3)
    return clean_aws


def manifest_of(aws, settings, run):
    return read_manifest(aws.s3, settings.raw_bucket, s3layout.catalog_manifest_key(run.run_id))


def test_dag_extracts_downloads_and_records_failures(sample, settings, dag_bag):
    aws = sample
    run = run_dag(dag_bag, "extract_product_catalog", conf={"batch_size": 20})
    assert run.state == "success"
    # 54 products in batches of 20 → 3 mapped download tasks, not one per product
    downloads = [ti for ti in run.get_task_instances() if ti.task_id == "download_main_images"]
    assert len(downloads) == 3

    records = {r["product_id"]: r for r in manifest_of(aws, settings, run)}
    assert len(records) == len(REGULAR_PRODUCTS) + len(EDGE_CASES)
    for pid, reason in FAILED_AS.items():
        assert (records[pid]["status"], records[pid]["reason"]) == ("failed", reason), pid
        assert records[pid]["image_key"] is None
    stored = {pid for pid, r in records.items() if r["status"] == "stored"}
    assert stored == set(records) - set(FAILED_AS)

    incoming = aws.keys(settings.raw_bucket, "incoming/")
    assert incoming == sorted(f"incoming/product-{pid}.jpg" for pid in stored)
    head = aws.s3.head_object(Bucket=settings.raw_bucket, Key="incoming/product-43.jpg")
    assert head["Metadata"]["product-id"] == "43"
    assert head["ContentType"] == "image/jpeg"
    # 43's main image is the lowest-id index-0 image: the bytes of catalog-media/product-43-1
    main = aws.s3.get_object(Bucket=settings.raw_bucket, Key="catalog-media/product-43-1.jpg")
    assert head["Metadata"]["sha256"] == records[43]["sha256"]
    assert head["ContentLength"] == main["ContentLength"]

    # descriptions kept for the classifier, outside incoming/
    r45 = records[45]
    assert r45["description_key"] == "catalog/texts/product-45.txt"
    text = aws.s3.get_object(Bucket=settings.raw_bucket, Key=r45["description_key"])
    assert text["Body"].read().decode() == r45["description"]
    assert records[44]["description_key"] is None and records[44]["description"] is None
    with_text = {pid for pid, r in records.items() if r["description"] is not None}
    assert aws.keys(settings.raw_bucket, "catalog/texts/") == sorted(
        s3layout.catalog_text_key(pid) for pid in with_text
    )

    summary = run.get_task_instance("write_manifest").xcom_pull(task_ids="write_manifest")
    assert summary == {
        "products": 54,
        "with_image": 54 - 3,
        "with_description": len(with_text),
        "downloaded": len(stored),
        "stored": len(stored),
        "unchanged": 0,
        "already_validated": 0,
        "failures": {
            "no_image_url": 3,
            "not_an_image_content_type": 1,
            "not_found": 1,
            "unsupported_url_scheme": 1,
        },
        "manifest": f"s3://{settings.raw_bucket}/{s3layout.catalog_manifest_key(run.run_id)}",
    }
    assert asset_events(run) == ["product_catalog"]


def asset_events(run) -> list[str]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent).where(AssetEvent.source_run_id == run.run_id)
        ).all()
        return [event.asset.name for event in events]


def test_rerun_is_idempotent_and_skips_validated_images(sample, settings, dag_bag):
    aws = sample
    first = run_dag(dag_bag, "extract_product_catalog", conf={"batch_size": 50})
    assert first.state == "success"
    before = {
        key: aws.s3.head_object(Bucket=settings.raw_bucket, Key=key)["ETag"]
        for key in aws.keys(settings.raw_bucket, "incoming/")
    }
    # validation moved product 1's image to the validated bucket (with its sha256)
    moved = "incoming/product-1.jpg"
    aws.s3.copy_object(
        Bucket=settings.validated_bucket,
        Key=moved,
        CopySource={"Bucket": settings.raw_bucket, "Key": moved},
    )
    aws.s3.delete_object(Bucket=settings.raw_bucket, Key=moved)

    second = run_dag(dag_bag, "extract_product_catalog", conf={"batch_size": 50})
    assert second.state == "success"
    records = {r["product_id"]: r for r in manifest_of(aws, settings, second)}
    assert records[1]["status"] == "already_validated"
    unchanged = {pid for pid, r in records.items() if r["status"] == "unchanged"}
    assert {f"incoming/product-{pid}.jpg" for pid in unchanged} == set(before) - {moved}
    after = {
        key: aws.s3.head_object(Bucket=settings.raw_bucket, Key=key)["ETag"]
        for key in aws.keys(settings.raw_bucket, "incoming/")
    }
    assert after == {k: v for k, v in before.items() if k != moved}
