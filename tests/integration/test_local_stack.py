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


def test_a_database_loaded_from_the_shared_dump_is_at_airflow_s_schema_head(airflow_db):
    """The run's first stack migrated Airflow's database and left its dump; a fresh database
    that loads it is what `airflow db migrate` makes, by Airflow's own check."""
    import os
    import subprocess
    import sys
    from importlib.metadata import version
    from pathlib import Path

    from image_mlops_dev.stack.manager import AIRFLOW_DB_CACHE

    dump = Path(os.environ[AIRFLOW_DB_CACHE]) / f"airflow-{version('apache-airflow')}.sql"
    assert dump.exists()
    pg = airflow_db.postgres
    pg.psql('DROP DATABASE IF EXISTS "airflow_loaded"')
    pg.psql('CREATE DATABASE "airflow_loaded"')
    pg.load("airflow_loaded", dump)
    env = airflow_db.airflow_environment()
    airflow = str(Path(sys.executable).parent / "airflow")

    def at_head(database: str) -> bool:
        env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = pg.uri(database, "postgresql+psycopg2")
        check = subprocess.run(
            [airflow, "db", "check-migrations", "--migration-wait-timeout", "0"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return check.returncode == 0

    pg.psql('DROP DATABASE IF EXISTS "airflow_empty"')
    pg.psql('CREATE DATABASE "airflow_empty"')
    assert not at_head("airflow_empty")  # the check can fail
    assert at_head("airflow")  # this stack's own, migrated or loaded
    assert at_head("airflow_loaded")
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    assert int(pg.psql(tables, "airflow_loaded")) == int(pg.psql(tables, "airflow")) > 50
    for database in ("airflow_loaded", "airflow_empty"):
        pg.psql(f'DROP DATABASE "{database}"')
