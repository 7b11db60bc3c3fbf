"""The process's AWS clients (``image_mlops.aws.aws_client``): built once per connection and
reused, never reused across a changed connection, changed credentials or a fork."""

from __future__ import annotations

import multiprocessing
import os

import pytest
from botocore.exceptions import ClientError
from conftest import ADMIN_CONN

from image_mlops.aws import aws_client

pytestmark = pytest.mark.stack


def _caller(client) -> str:
    return client.get_caller_identity()["Arn"]


def test_a_client_is_built_once_and_reused(local_stack, settings):
    first = aws_client("sts", settings)
    assert aws_client("sts", settings) is first
    assert aws_client("sts", settings, max_pool_connections=32) is not first  # another pool
    assert ":assumed-role/" in _caller(first)  # the worker role, as Airflow's tasks act


def test_a_changed_connection_gets_a_client_acting_as_it(local_stack, settings, monkeypatch):
    worker = aws_client("sts", settings)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", os.environ[f"AIRFLOW_CONN_{ADMIN_CONN.upper()}"])
    admin = aws_client("sts", settings)
    assert admin is not worker
    assert ":assumed-role/" not in _caller(admin)  # the bootstrap key's user
    monkeypatch.undo()
    assert aws_client("sts", settings) is worker  # the worker's connection again


def test_changed_credentials_in_the_environment_get_a_new_client(local_stack, settings):
    worker = aws_client("sts", settings)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEEXAMPLE00")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-key-of-this-stack")
        stranger = aws_client("sts", settings)
        assert stranger is not worker
        with pytest.raises(ClientError) as refused:
            _caller(stranger)
        # STS's own shape (<ErrorResponse>), so botocore reads the code
        assert refused.value.response["Error"]["Code"] == "InvalidClientTokenId"
    assert aws_client("sts", settings) is worker


def _child(parent_client_id: int, answers) -> None:
    client = aws_client("sts")
    answers.put((id(client) == parent_client_id, _caller(client)))


def test_a_forked_child_builds_its_own_client(local_stack, settings):
    """A forked child must not share its parent's connections (sockets, TLS state)."""
    parent = aws_client("sts", settings)
    _caller(parent)  # a connection in the pool
    context = multiprocessing.get_context("fork")
    answers = context.Queue()
    child = context.Process(target=_child, args=(id(parent), answers))
    child.start()
    same, arn = answers.get(timeout=60)
    child.join(timeout=60)
    assert child.exitcode == 0
    assert not same
    assert ":assumed-role/" in arn
