"""Every DAG has an IAM policy document (docs/iam/<dag_id>.json) naming real AWS actions."""

from __future__ import annotations

import json
from pathlib import Path

import botocore.session
import pytest

ROOT = Path(__file__).resolve().parents[2]
DAG_IDS = sorted(p.stem for p in (ROOT / "dags").glob("*.py") if not p.name.startswith("_"))
# IAM permissions that are not API operations of the same name.
#: Permission names IAM checks that are not API operation names: ListBucket (ListObjectsV2),
#: the *Version permissions of GetObject / DeleteObject with a VersionId, PassRole.
IAM_ONLY = {"s3:ListBucket", "s3:GetObjectVersion", "s3:DeleteObjectVersion", "iam:PassRole"}
SERVICES = {
    "s3": ["s3"],
    "sagemaker": ["sagemaker", "sagemaker-runtime"],
    "cloudwatch": ["cloudwatch"],
    "states": ["stepfunctions"],
    "logs": ["logs"],
    "application-autoscaling": ["application-autoscaling"],
    "iam": ["iam"],
    "sns": ["sns"],
}


@pytest.fixture(scope="module")
def operations() -> dict[str, set[str]]:
    session = botocore.session.get_session()
    return {
        prefix: {
            op for service in services for op in session.get_service_model(service).operation_names
        }
        for prefix, services in SERVICES.items()
    }


def test_there_are_dags():
    assert DAG_IDS


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_policy_document_names_real_actions(dag_id, operations):
    path = ROOT / "docs" / "iam" / f"{dag_id}.json"
    assert path.exists(), f"{dag_id} has no IAM policy document at {path}"
    policy = json.loads(path.read_text())
    assert policy["Version"] == "2012-10-17"
    assert policy["Statement"]
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert statement["Resource"]
        for action in statement["Action"]:
            if action in IAM_ONLY:
                continue
            prefix, name = action.split(":", 1)
            assert name in operations[prefix], f"{dag_id}: {action} is not an AWS API action"
