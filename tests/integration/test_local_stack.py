"""The local stack answers S3, SageMaker and CloudWatch, keeps its state across restarts."""

from __future__ import annotations

import datetime as dt

import pytest

pytestmark = pytest.mark.stack


def test_buckets_and_model_package_group_exist(aws, admin, settings):
    # listing every bucket is the deployer's business (s3:ListAllMyBuckets), not the worker's
    buckets = {b["Name"] for b in admin.s3.list_buckets()["Buckets"]}
    assert set(settings.buckets) <= buckets
    for bucket in settings.buckets:
        aws.s3.head_bucket(Bucket=bucket)  # the worker reaches each of them
    group = aws.sagemaker.describe_model_package_group(ModelPackageGroupName=settings.model_name)
    assert group["ModelPackageGroupName"] == settings.model_name


def test_s3_round_trip_with_unicode_key(aws, settings):
    key = "incoming/a folder/üñí code.jpg"
    aws.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=b"\xff\xd8bytes")
    assert aws.s3.get_object(Bucket=settings.raw_bucket, Key=key)["Body"].read() == b"\xff\xd8bytes"


def test_cloudwatch_metrics_round_trip(admin, settings):
    # a probe of the emulator in a namespace of its own (the worker publishes only to ours)
    aws = admin
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    aws.cloudwatch.put_metric_data(
        Namespace="StackTest",
        MetricData=[{"MetricName": "Probe", "Value": 7.0, "Timestamp": now, "Unit": "Count"}],
    )
    stats = aws.cloudwatch.get_metric_statistics(
        Namespace="StackTest",
        MetricName="Probe",
        StartTime=now - dt.timedelta(minutes=5),
        EndTime=now + dt.timedelta(minutes=5),
        Period=60,
        Statistics=["Sum"],
    )
    assert [p["Sum"] for p in stats["Datapoints"]] == [7.0]


def test_postgres_databases_exist(local_stack):
    names = local_stack.postgres.psql("SELECT datname FROM pg_database").split()
    assert {"airflow", "product_catalog", "image_mlops"} <= set(names)
