"""infra/image-mlops.yaml: generated from its sources, linted by cfn-lint, policy-checked by
checkov (no public bucket, no wildcard admin, encryption on, every check passing or skipped
with a written reason). The tools live in .venv-iac (``make test`` creates it)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path

import pytest

from image_mlops_dev import infra

ROOT = Path(__file__).resolve().parents[2]
IAC_BIN = ROOT / ".venv-iac" / "bin"
#: checkov checks the issue names, each of which must have passed
REQUIRED_CHECKS = {
    "CKV_AWS_19": "S3 encryption at rest",
    "CKV_AWS_53": "S3 block public ACLs",
    "CKV_AWS_54": "S3 block public policy",
    "CKV_AWS_55": "S3 ignore public ACLs",
    "CKV_AWS_56": "S3 restrict public buckets",
    "CKV_AWS_26": "SNS encryption",
    "CKV_AWS_62": "no role policy with *:* (admin)",
    "CKV_AWS_63": "no role policy with an action '*'",
    "CKV_AWS_109": "no permissions management without constraints (managed policies too)",
    "CKV_AWS_110": "no privilege escalation",
    "CKV_AWS_111": "no write access without constraints",
    "CKV_AWS_60": "roles assumed only by named services",
}


def _tool(name: str) -> str:
    path = IAC_BIN / name
    if not path.exists():
        pytest.fail(f"{path} is missing: `make test` creates .venv-iac (requirements-iac.txt)")
    return str(path)


def _checkov(path: Path) -> dict:
    run = subprocess.run(
        [
            _tool("checkov"),
            "-f",
            str(path),
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(run.stdout)
    return report[0] if isinstance(report, list) else report


def test_the_template_is_generated_from_its_sources():
    assert infra.TEMPLATE_PATH.read_text() == infra.render(infra.template()), (
        "infra/image-mlops.yaml is out of date: run `make infra`"
    )


def test_the_worker_role_has_every_dag_policy_of_docs_iam():
    document = infra.template()
    resources = document["Resources"]
    attached = {ref["Ref"] for ref in resources["WorkerRole"]["Properties"]["ManagedPolicyArns"]}
    for path in sorted(infra.IAM_DIR.glob("*.json")):
        logical = "".join(part.title() for part in path.stem.split("_")) + "Policy"
        assert logical in attached, path.name
        source = json.loads(path.read_text())["Statement"]
        statements = resources[logical]["Properties"]["PolicyDocument"]["Statement"]
        assert [s["Action"] for s in statements] == [s["Action"] for s in source], path.name
    text = infra.render(document)
    assert "123456789012" not in text and "us-east-1" not in text  # parameters, not literals


def test_cfn_lint_passes():
    run = subprocess.run(
        [_tool("cfn-lint"), str(infra.TEMPLATE_PATH)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_checkov_passes_and_every_skip_has_a_reason():
    report = _checkov(infra.TEMPLATE_PATH)
    results = report["results"]
    assert results["failed_checks"] == [], [
        (c["check_id"], c["resource"]) for c in results["failed_checks"]
    ]
    passed = {c["check_id"] for c in results["passed_checks"]}
    missing = {k: v for k, v in REQUIRED_CHECKS.items() if k not in passed}
    assert not missing, missing
    for skipped in results["skipped_checks"]:
        assert len(skipped["check_result"].get("suppress_comment") or "") > 20, skipped
    # checkov leaves out, silently, a resource it cannot read (a policy whose statement list
    # holds an Fn::If, say): every role and policy of the template must have been checked
    checked = {c["resource"] for c in results["passed_checks"] + results["skipped_checks"]}
    iam = {
        f"{resource['Type']}.{logical}"
        for logical, resource in infra.template()["Resources"].items()
        if resource["Type"] in ("AWS::IAM::Role", "AWS::IAM::ManagedPolicy")
    }
    assert iam - checked == set(), iam - checked


def test_checkov_would_catch_a_public_bucket_and_an_admin_policy(tmp_path):
    """The checks can fail: the same template with a bucket opened and a wildcard policy."""
    document = copy.deepcopy(infra.template())
    block = document["Resources"]["OutputBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    block["BlockPublicPolicy"] = False
    admin = {"Effect": "Allow", "Action": "*", "Resource": "*"}
    role = document["Resources"]["SageMakerExecutionRole"]["Properties"]
    role["Policies"][0]["PolicyDocument"]["Statement"].append(admin)
    managed = document["Resources"]["DeployModelPolicy"]["Properties"]["PolicyDocument"]
    managed["Statement"].append(admin)
    path = tmp_path / "opened.yaml"
    path.write_text(infra.render(document))
    failed = {(c["check_id"], c["resource"]) for c in _checkov(path)["results"]["failed_checks"]}
    assert ("CKV_AWS_54", "AWS::S3::Bucket.OutputBucket") in failed, failed
    assert ("CKV_AWS_62", "AWS::IAM::Role.SageMakerExecutionRole") in failed, failed
    assert ("CKV_AWS_109", "AWS::IAM::ManagedPolicy.DeployModelPolicy") in failed, failed


# --- the MWAA execution role ---------------------------------------------------------------
ACCOUNT, REGION = "111122223333", "eu-west-1"
MWAA_ACCOUNT = "999988887777"  # where MWAA keeps an environment's queues and their key
ENVIRONMENT, DAG_BUCKET = "image-mlops-prod", "acme-airflow-dags"


def _resolved(value, parameters: dict[str, str]):
    """A policy document of the template with its ``Fn::Sub`` and ``Ref`` resolved."""
    if isinstance(value, dict) and set(value) == {"Fn::Sub"}:
        text = value["Fn::Sub"]
        for name, replacement in parameters.items():
            text = text.replace("${" + name + "}", replacement)
        assert "${" not in text, text
        return text
    if isinstance(value, dict) and set(value) == {"Ref"}:
        return parameters[value["Ref"]]
    if isinstance(value, dict):
        return {k: _resolved(v, parameters) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolved(v, parameters) for v in value]
    return value


@pytest.fixture(scope="module")
def mwaa_policy() -> dict:
    resource = infra.template()["Resources"]["MwaaEnvironmentPolicy"]
    return _resolved(
        resource["Properties"]["PolicyDocument"],
        {
            "AWS::Partition": "aws",
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "MwaaEnvironmentName": ENVIRONMENT,
            "MwaaDagBucketName": DAG_BUCKET,
        },
    )


def test_the_mwaa_policy_is_made_with_an_environment_and_attached_to_the_worker_role():
    document = infra.template()
    policy = document["Resources"]["MwaaEnvironmentPolicy"]
    assert policy["Condition"] == "MwaaExecutionRole"
    assert document["Conditions"]["MwaaExecutionRole"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MwaaEnvironmentName"}, ""]}]
    }
    assert policy["Properties"]["Roles"] == [{"Ref": "WorkerRole"}]
    assert document["Parameters"]["MwaaEnvironmentName"]["Default"] == ""
    # the DAG policies are untouched: the worker role's list holds them only
    attached = document["Resources"]["WorkerRole"]["Properties"]["ManagedPolicyArns"]
    assert {"Ref": "MwaaEnvironmentPolicy"} not in attached
    # an environment without its bucket is refused at deployment (a rule), not granted
    # "arn:aws:s3:::"
    rule = document["Rules"]["MwaaEnvironmentNamesItsDagBucket"]
    assert rule["RuleCondition"] == document["Conditions"]["MwaaExecutionRole"]
    assert rule["Assertions"][0]["Assert"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "MwaaDagBucketName"}, ""]}]
    }


def _mwaa_decides(policy: dict, action: str, resource: str, **keys: str) -> bool:
    from image_mlops_dev.emulator.iam.evaluation import RequestContext, decide

    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/image-mlops-worker/AmazonMWAA-airflow"
    context = RequestContext(
        action, resource, session, ACCOUNT, keys={k.lower(): [v] for k, v in keys.items()}
    )
    return decide([policy], [], context).allowed


@pytest.mark.parametrize(
    ("action", "resource", "keys", "allowed"),
    [
        # the environment's health metrics: this environment only
        (
            "airflow:PublishMetrics",
            f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/{ENVIRONMENT}",
            {},
            True,
        ),
        (
            "airflow:PublishMetrics",
            f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/other",
            {},
            False,
        ),
        # the DAG bucket: read, never written; no other bucket
        ("s3:GetObject", f"arn:aws:s3:::{DAG_BUCKET}/dags/classify_images.py", {}, True),
        ("s3:GetObjectVersion", f"arn:aws:s3:::{DAG_BUCKET}/plugins.zip", {}, True),
        ("s3:ListBucket", f"arn:aws:s3:::{DAG_BUCKET}", {}, True),
        ("s3:GetBucketVersioning", f"arn:aws:s3:::{DAG_BUCKET}", {}, True),
        ("s3:PutObject", f"arn:aws:s3:::{DAG_BUCKET}/dags/x.py", {}, False),
        ("s3:DeleteObject", f"arn:aws:s3:::{DAG_BUCKET}/dags/x.py", {}, False),
        ("s3:GetObject", "arn:aws:s3:::image-mlops-models/product-image-classifier/1/x", {}, False),
        ("s3:GetAccountPublicAccessBlock", "*", {}, True),
        # the environment's log groups, not the account's others
        (
            "logs:PutLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-{ENVIRONMENT}"
            "-Task:log-stream:dag_id=x/run_id=y/task_id=z/attempt=1.log",
            {},
            True,
        ),
        (
            "logs:CreateLogGroup",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-{ENVIRONMENT}-Scheduler",
            {},
            True,
        ),
        (
            "logs:PutLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:airflow-other-Task:log-stream:s",
            {},
            False,
        ),
        (
            "logs:PutLogEvents",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:log-stream:s",
            {},
            False,
        ),
        ("logs:DescribeLogGroups", "*", {}, True),
        # MWAA's metrics namespace only (the DAGs' own is monitor_model's policy)
        ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "AmazonMWAA"}, True),
        ("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "ImageMLOps"}, False),
        ("cloudwatch:PutMetricData", "*", {}, False),
        # the Celery queues MWAA keeps in its account, in this region
        (
            "sqs:ReceiveMessage",
            f"arn:aws:sqs:{REGION}:{MWAA_ACCOUNT}:airflow-celery-0a1b2c",
            {},
            True,
        ),
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{MWAA_ACCOUNT}:airflow-celery-0a1b2c", {}, True),
        (
            "sqs:SendMessage",
            f"arn:aws:sqs:us-east-1:{MWAA_ACCOUNT}:airflow-celery-0a1b2c",
            {},
            False,
        ),
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:image-mlops-jobs", {}, False),
        (
            "sqs:DeleteQueue",
            f"arn:aws:sqs:{REGION}:{MWAA_ACCOUNT}:airflow-celery-0a1b2c",
            {},
            False,
        ),
        # their AWS owned key: a key outside this account, and only through SQS in this region
        (
            "kms:Decrypt",
            f"arn:aws:kms:{REGION}:{MWAA_ACCOUNT}:key/1234abcd",
            {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"},
            True,
        ),
        (
            "kms:GenerateDataKey",
            f"arn:aws:kms:{REGION}:{MWAA_ACCOUNT}:key/1234abcd",
            {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"},
            True,
        ),
        ("kms:Decrypt", f"arn:aws:kms:{REGION}:{MWAA_ACCOUNT}:key/1234abcd", {}, False),
        (
            "kms:Decrypt",
            f"arn:aws:kms:{REGION}:{MWAA_ACCOUNT}:key/1234abcd",
            {"kms:ViaService": f"s3.{REGION}.amazonaws.com"},
            False,
        ),
        (
            "kms:Decrypt",
            f"arn:aws:kms:{REGION}:{ACCOUNT}:key/5678efgh",
            {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"},
            False,
        ),
        (
            "kms:CreateGrant",
            f"arn:aws:kms:{REGION}:{MWAA_ACCOUNT}:key/1234abcd",
            {"kms:ViaService": f"sqs.{REGION}.amazonaws.com"},
            False,
        ),
    ],
)
def test_the_mwaa_policy_allows_what_mwaa_does_and_nothing_near_it(
    mwaa_policy, action, resource, keys, allowed
):
    """The worker role as an MWAA execution role: AWS's published statements, evaluated by the
    emulator's IAM evaluation for this environment and bucket."""
    assert _mwaa_decides(mwaa_policy, action, resource, **keys) is allowed


def test_the_topic_has_a_key_cloudwatch_may_use_and_the_workers_only_through_sns():
    """CloudWatch cannot publish the alarms' actions to a topic encrypted with alias/aws/sns
    (infra.notification_key's sources): the topic's key is the stack's own, whose policy allows
    cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey* (as the emulator checks it
    before it runs an alarm's action), the account's root administers it, and the worker role
    uses it only through SNS."""
    from image_mlops_dev.emulator.cloudwatch.alarm_actions import key_policy_allows_cloudwatch

    resources = infra.template()["Resources"]
    assert resources["NotificationTopic"]["Properties"]["KmsMasterKeyId"] == {
        "Ref": "NotificationKey"
    }
    key = resources["NotificationKey"]
    assert key["Type"] == "AWS::KMS::Key"
    assert key["Properties"]["EnableKeyRotation"] is True
    policy = key["Properties"]["KeyPolicy"]
    key_arn = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    assert key_policy_allows_cloudwatch(policy, key_arn)
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    assert by_sid["CloudWatchAlarmsPublish"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert sorted(by_sid["CloudWatchAlarmsPublish"]["Action"]) == [
        "kms:Decrypt",
        "kms:GenerateDataKey*",
    ]
    assert by_sid["AccountAdministersTheKey"]["Principal"] == {
        "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    }
    workers = by_sid["WorkersPublishThroughSns"]
    assert workers["Principal"] == {"AWS": {"Fn::GetAtt": ["WorkerRole", "Arn"]}}
    assert workers["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}}
    }
    # the key check would refuse the AWS managed key's kind of policy (no CloudWatch grant)
    without_cloudwatch = {
        **policy,
        "Statement": [s for s in policy["Statement"] if s["Sid"] != "CloudWatchAlarmsPublish"],
    }
    assert not key_policy_allows_cloudwatch(without_cloudwatch, key_arn)
