"""A user's own test of a classification batch under moto's ``@mock_aws``.

moto intercepts boto3 through botocore's event hooks. Every AWS call the package makes goes
through boto3, so the batch's S3 calls reach the mock, the endpoint answers what the mock is
told to answer, and no request leaves the process (a client of our own, bypassing botocore's
hooks, would have sent them to the network). The predictions rows go to the session's real
PostgreSQL, as a user's test would have them.
"""

from __future__ import annotations

import hashlib
import json
import socket

import pytest
import requests
from classify_fixtures import colour_image
from moto import mock_aws

from image_mlops.classification import clients, run
from image_mlops.config import get_settings

pytestmark = pytest.mark.stack

VERSION = 9901  # rows of its own


@pytest.fixture
def no_network(monkeypatch):
    """Any socket connection from Python code is recorded and refused."""
    attempts: list = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise AssertionError(f"a request left the process: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def plain_aws_connection(monkeypatch, local_stack):
    """The user's setup: an AWS connection without endpoint_url, target aws."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        json.dumps({"conn_type": "aws", "extra": {"region_name": "us-east-1"}}),
    )
    monkeypatch.setenv("IMAGE_MLOPS_TARGET", "aws")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    # a client of its own: the process's clients are keyed by the connection and AWS_* above
    yield get_settings()


def test_a_batch_under_mock_aws_stays_in_the_process(plain_aws_connection, no_network):
    from image_mlops.classification import records

    settings = plain_aws_connection
    records.ensure_predictions_table(settings)  # the real database, before the guard matters
    records._execute(settings, "DELETE FROM predictions WHERE model_version = %(v)s",
                     {"v": VERSION})  # fmt: skip
    with mock_aws():
        s3 = clients.client("s3", settings)
        for bucket in (settings.validated_bucket, settings.output_bucket):
            s3.create_bucket(Bucket=bucket)
        keys = []
        for i, name in enumerate(("shopA/1.jpg", "shopB/1.jpg", "2.jpg")):
            data = colour_image((200, 30, 30), seed=i)
            key = f"incoming/{name}"
            s3.put_object(
                Bucket=settings.validated_bucket,
                Key=key,
                Body=data,
                Metadata={"sha256": hashlib.sha256(data).hexdigest()},
            )
            keys.append(key)
        answer = {
            "predictions": [
                {"label": "mug", "confidence": 0.9, "top_k": [{"label": "mug", "score": 0.9}]}
            ]
            * len(keys)
        }
        requests.post(  # moto's documented way to say what the mock endpoint answers
            "http://motoapi.amazonaws.com/moto-api/static/sagemaker/endpoint-results",
            json={"results": [{"Body": json.dumps(answer), "ContentType": "application/json"}]},
            timeout=10,
        )
        model = {
            "endpoint_name": settings.endpoint_name("production"),
            "endpoint_config_name": "config",
            "model_name": "model",
            "model_data_url": "",
            "package_arn": "",
            "package_version": VERSION,
            "environment": {},
        }
        (batch,) = run.plan(settings, model, "manual__mock-aws", 50)
        summary = run.classify(settings, batch, model, "manual__mock-aws")
        placed = sorted(
            o["Key"]
            for o in s3.list_objects_v2(Bucket=settings.output_bucket, Prefix="predictions/")[
                "Contents"
            ]
            if "_manifests" not in o["Key"]
        )
    assert no_network == []
    assert summary["classified"] == 3 and summary["errors"] == 0
    assert placed == [
        "predictions/mug/2.jpg",
        "predictions/mug/shopA/1.jpg",
        "predictions/mug/shopB/1.jpg",
    ]
