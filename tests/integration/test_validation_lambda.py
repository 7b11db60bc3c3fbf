"""The Step Functions route: the Lambda handler against the emulator's S3, built exactly as
the deployment zip is (standalone module copies), and the state machine on the emulator."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest
from validation_corpus import corpus

from image_mlops.config import INCLUDE_DIR
from image_mlops_dev.stack.settings import get_stack_settings

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "plugins/image_mlops/validation"
ZIP_LAYOUT = {
    "image_checks.py": "checks.py",
    "image_mover.py": "mover.py",
    "image_validator.py": "validator.py",
}


@pytest.fixture
def lambda_module(tmp_path, monkeypatch):
    """The zip's contents in a folder: handler + standalone copies; imported from there."""
    build = tmp_path / "validate_lambda"
    build.mkdir()
    shutil.copy(INCLUDE_DIR / "scripts/validate_lambda.py", build)
    for target, source in ZIP_LAYOUT.items():
        shutil.copy(PACKAGE / source, build / target)
    monkeypatch.syspath_prepend(str(build))
    for name in ("validate_lambda", *(n.removesuffix(".py") for n in ZIP_LAYOUT)):
        sys.modules.pop(name, None)
    module = importlib.import_module("validate_lambda")
    assert "image_mlops" not in module.image_validator.checks.__name__
    return module


def test_handler_validates_a_manifest_like_the_dag(clean_aws, settings, lambda_module):
    from image_mlops import s3layout
    from image_mlops.validation import pipeline

    aws = clean_aws
    cases = corpus()
    for name, (data, _) in cases.items():
        aws.s3.put_object(Bucket=settings.raw_bucket, Key=name, Body=data)
    run_id = "sfn-run-1"
    manifests = pipeline.plan_run(settings, run_id)
    sfn_input = pipeline.state_machine_input(settings, run_id, manifests)
    for event in sfn_input["batches"]:
        summary = lambda_module.handler(json.loads(json.dumps(event)), None, s3=aws.s3)
        assert summary["in"] == summary["validated"] + summary["quarantined"]
    result = pipeline.finalize_run(settings, run_id, manifests)  # the DAG's last step

    assert result["in"] == len(cases)
    validated = {k for k in aws.keys(settings.validated_bucket) if not k.startswith("_index/")}
    assert validated == {k for k, (_, r) in cases.items() if r is None}
    body = aws.s3.get_object(Bucket=settings.raw_bucket, Key=s3layout.reasons_key(run_id))
    reasons = {json.loads(x)["key"]: json.loads(x)["reason"] for x in body["Body"].iter_lines()}
    assert reasons == {k: r for k, (_, r) in cases.items() if r}


def test_state_machine_deploys_on_the_emulator(admin, settings):
    aws = admin  # a machine of the test's own: the stack's deploying user creates it
    definition = (
        ROOT / "plugins/image_mlops/include/statemachines/validate_images.asl.json"
    ).read_text()
    arn = f"arn:aws:lambda:{settings.region}:{settings.account_id}:function:image-mlops-validate"
    created = aws.stepfunctions.create_state_machine(
        name="image-mlops-validate-images-test",
        definition=definition.replace("${ValidateFunctionArn}", arn),
        roleArn=f"arn:aws:iam::{settings.account_id}:role/image-mlops-validate-states",
    )
    described = aws.stepfunctions.describe_state_machine(stateMachineArn=created["stateMachineArn"])
    assert arn in described["definition"]
    aws.stepfunctions.delete_state_machine(stateMachineArn=created["stateMachineArn"])


def test_dag_with_the_stepfunctions_engine(
    clean_aws, admin, settings, dag_bag, local_stack, monkeypatch
):
    """IMAGE_MLOPS_VALIDATION_ENGINE=stepfunctions: the DAG starts the state machine deployed
    by the stack; Step Functions runs its Map, each item invoking the validation Lambda (this
    checkout's zip) on a real batch; the deferred task waits for the execution's end."""
    from conftest import run_dag

    from image_mlops import s3layout

    aws = clean_aws
    machine = local_stack.deploy_aws_side()["ValidationStateMachineArn"]  # the stack's
    monkeypatch.setenv("IMAGE_MLOPS_VALIDATION_ENGINE", "stepfunctions")
    monkeypatch.setenv("IMAGE_MLOPS_VALIDATION_STATE_MACHINE_ARN", machine)
    monkeypatch.setenv("IMAGE_MLOPS_VALIDATION_BATCH_SIZE", "4")
    cases = corpus()
    for name, (data, _) in cases.items():
        aws.s3.put_object(Bucket=settings.raw_bucket, Key=name, Body=data)

    run = run_dag(dag_bag, "validate_images")
    assert run.state == "success", [(t.task_id, t.state) for t in run.get_task_instances()]
    assert run.get_task_instance("validate_batch").state == "skipped"
    request = run.get_task_instance("stepfunctions.state_machine_request").xcom_pull(
        task_ids="stepfunctions.state_machine_request"
    )
    # the test reads the executions back (the DAG itself only starts and describes its own)
    executions = admin.stepfunctions.list_executions(stateMachineArn=machine)["executions"]
    execution = next(e for e in executions if e["name"] == request["name"])
    described = aws.stepfunctions.describe_execution(executionArn=execution["executionArn"])
    assert described["status"] == "SUCCEEDED"
    results = json.loads(described["output"])["results"]
    assert len(results) == len(request["input"]["batches"]) > 1  # one Lambda call per batch
    assert sum(r["in"] for r in results) == len(cases)
    summary = run.get_task_instance("finalize_run").xcom_pull(task_ids="finalize_run")
    assert summary["in"] == len(cases) == summary["validated"] + summary["quarantined"]
    validated = {k for k in aws.keys(settings.validated_bucket) if not k.startswith("_index/")}
    assert validated == {k for k, (_, r) in cases.items() if r is None}
    assert summary["by_reason"] == {
        r: sum(1 for _, x in cases.values() if x == r) for _, r in cases.values() if r
    }
    body = aws.s3.get_object(Bucket=settings.raw_bucket, Key=s3layout.reasons_key(run.run_id))
    assert len(body["Body"].read().splitlines()) == summary["quarantined"]


def test_a_failing_lambda_fails_the_execution(clean_aws, admin, settings, local_stack):
    """A batch the Lambda cannot read (its manifest is gone): the Lambda's error reaches the
    state machine, which ends in its ValidationFailed state."""
    from image_mlops.validation import pipeline

    machine = local_stack.deploy_aws_side()["ValidationStateMachineArn"]  # the stack's
    sfn_input = pipeline.state_machine_input(settings, "gone", ["_runs/gone/batch-0001.json"])
    described = admin.stepfunctions.describe_state_machine(stateMachineArn=machine)
    definition = json.loads(described["definition"])
    # no retries: the failure path, not the back-off, is what this test is about
    definition["States"]["ValidateBatches"]["ItemProcessor"]["States"]["ValidateBatch"].pop("Retry")
    # a machine of the test's own (the deploying user's), with the stack's machine's role
    quick = admin.stepfunctions.create_state_machine(
        name=f"validate-no-retry-{get_stack_settings().pg_port}",
        definition=json.dumps(definition),
        roleArn=described["roleArn"],
    )["stateMachineArn"]
    execution = admin.stepfunctions.start_execution(
        stateMachineArn=quick, name="gone-1", input=json.dumps(sfn_input)
    )["executionArn"]
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        described = admin.stepfunctions.describe_execution(executionArn=execution)
        if described["status"] != "RUNNING":
            break
        time.sleep(0.5)
    assert described["status"] == "FAILED"
    assert described["error"] == "ValidationBatchFailed"
    admin.stepfunctions.delete_state_machine(stateMachineArn=quick)
