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
