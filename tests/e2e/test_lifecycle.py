"""The whole lifecycle, exactly as a user runs it: `image-mlops demo` (what `make demo` runs).

The demo brings up its own private stack (PostgreSQL, the AWS emulator, Airflow's
api-server, scheduler, dag-processor, triggerer) in a temporary folder on free ports, drives
every DAG through the running Airflow (scheduler, Assets, REST API; both approvals answered
through the REST API), and prints its summary. Then every stage's outcome is asserted from
the stack itself — S3, the registry, CloudWatch, PostgreSQL, Airflow's REST API — not only
from what the demo says about itself.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import boto3
import pytest
from conftest import bootstrap_client_arguments
from secret_scan import files_under, leaks

from image_mlops.serving.container import ENV_PACKAGE_VERSION
from image_mlops_dev.stack.processes import free_port

pytestmark = [
    pytest.mark.stack,
    pytest.mark.airflow_stack,
    pytest.mark.slow(minutes=8),
    pytest.mark.timeout(2400),
]

ROOT = Path(__file__).resolve().parents[2]
MODEL = "product-image-classifier"


@pytest.fixture(scope="module")
def demo(test_output):
    from conftest import private_stack_env

    state = Path(tempfile.mkdtemp(prefix="image-mlops-e2e-"))
    ports = {"pg": free_port(), "emulator": free_port(), "airflow": free_port()}
    env = private_stack_env(state, ports["pg"], ports["emulator"], ports["airflow"])
    result_file = state / "result.json"
    cli = [sys.executable, "-m", "image_mlops.cli"]
    try:
        proc = subprocess.run(
            [*cli, "demo", "--result-json", str(result_file)],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=2100,
        )
        (test_output / "e2e-demo-output.txt").write_text(proc.stdout + "\n" + proc.stderr)
        assert proc.returncode == 0, (
            f"make demo failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
        result = json.loads(result_file.read_text())
        clients = _clients(env)
        yield {
            "result": result,
            "stdout": proc.stdout,
            "stderr": proc.stderr,
            "ports": ports,
            "aws": clients,
            "state": state,
            "env": env,
        }
    finally:
        subprocess.run([*cli, "stack", "down"], env=env, cwd=ROOT, capture_output=True, timeout=300)
        shutil.rmtree(state, ignore_errors=True)


def _clients(env: dict[str, str]) -> dict:
    kwargs = bootstrap_client_arguments(env)
    return {name: boto3.client(name, **kwargs) for name in ("s3", "sagemaker", "cloudwatch")}


def _keys(s3, bucket: str, prefix: str = "") -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def test_the_demo_prints_its_summary_and_the_ui_address(demo):
    out = demo["stdout"]
    assert "image-mlops demo finished in" in out
    assert f"http://localhost:{demo['ports']['airflow']}" in out
    for stage in ("validate_images", "train_and_register", "deploy_model", "retrain_on_drift"):
        assert f"✓ {stage}" in out


def test_the_output_is_the_stage_lines_and_the_summary_and_library_lines_are_in_the_log(demo):
    """No Airflow or provider log line among the stage lines: they are in the log file."""
    # a library's line at import (the AWS hook's own said where its key came from; Airflow
    # now acts as the worker role, with no key in the connection)
    library_line = "airflow.configuration: Reading the config from"
    output = demo["stdout"] + demo["stderr"]
    assert library_line not in output
    assert "[info     ]" not in output and " INFO " not in output
    log = (demo["state"] / "logs" / "image-mlops.log").read_text()
    assert library_line in log


def test_every_dag_run_the_story_followed_succeeded(demo):
    runs = demo["result"]["runs"]
    assert set(runs) >= {
        "extract_product_catalog",
        "validate_images",
        "train_and_register",
        "deploy_model",
        "classify_images",
        "monitor_model",
        "retrain_on_drift",
        "ingest_labels",
    }
    for dag_id, dag_runs in runs.items():
        assert all(state == "success" for _, state in dag_runs), (dag_id, dag_runs)


def test_validation_moved_every_raw_image_and_quarantined_the_bad_ones(demo):
    s3 = demo["aws"]["s3"]
    leftovers = [k for k in _keys(s3, "image-mlops-raw") if k.startswith(("labeled/", "incoming/"))]
    assert leftovers == [], "every raw image ends validated or quarantined"
    summary = demo["result"]["summary"]
    # 6 classes x 60 demo images, and the images the learning loop labelled
    labelled_by_loop = sum(o.get("labeled", 0) for o in summary["label_events"].values())
    assert labelled_by_loop > 0
    assert summary["validated"]["labeled"] == 360 + labelled_by_loop
    quarantined = summary["quarantined"]
    for reason in ("empty_file", "truncated", "not_an_image", "too_small", "duplicate"):
        assert quarantined.get(reason, 0) >= 1, quarantined
    reasons = [k for k in _keys(s3, "image-mlops-raw", "errors/") if k.endswith("_reasons.jsonl")]
    assert reasons


def test_v1_was_approved_twice_and_serves_staging_and_production(demo):
    result = demo["result"]
    assert [option for _, option in result["approvals"][:2]] == ["Approve", "Approve"]
    sagemaker = demo["aws"]["sagemaker"]
    for stage in ("staging", "production"):
        endpoint = sagemaker.describe_endpoint(EndpointName=f"{MODEL}-{stage}")
        assert endpoint["EndpointStatus"] == "InService"
        config = sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"]
        )
        model = sagemaker.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        assert model["PrimaryContainer"]["Environment"][ENV_PACKAGE_VERSION] == "1"


def test_a_second_version_was_registered_after_exactly_one_drift_retraining(demo):
    result = demo["result"]
    assert result["drift_training_runs"] == 1
    assert result["second_cooldown_training_runs"] == 0
    sagemaker = demo["aws"]["sagemaker"]
    packages = sagemaker.list_model_packages(
        ModelPackageGroupName=MODEL, SortBy="CreationTime", SortOrder="Ascending"
    )["ModelPackageSummaryList"]
    assert [p["ModelApprovalStatus"] for p in packages] == ["Approved", "PendingManualApproval"]
    first = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
    assert float(first["CustomerMetadataProperties"]["accuracy"]) >= 0.95


def test_the_drift_retraining_waited_for_labels_and_learnt_the_drift(demo):
    """Feedback and the Review page became labels; the retraining started only then, and the
    new version beats the production one on the labels recorded since the drift alarm."""
    result, summary = demo["result"], demo["result"]["summary"]
    assert result["waiting_reason"].startswith("waiting for labels: 0 of ")
    assert result["reviewed"] > 0
    events = summary["label_events"]
    assert events["review"].get("labeled", 0) > 0 and events["feedback"].get("labeled", 0) > 0
    _v1, v2 = summary["models"]
    assert v2["new_labels"]["by_source"].get("feedback", 0) > 0
    assert v2["new_labels"]["by_source"].get("review", 0) > 0
    # the recent window starts where the drift episode began: before the first drift alarm was
    # announced, whatever the alarms in ALARM were by the time the retraining evaluated
    first_alarm = min(n["sent_at"] for n in summary["notifications"] if n["event"] == "drift_alarm")
    assert dt.datetime.fromisoformat(v2["recent_since"]) <= dt.datetime.fromisoformat(first_alarm)
    assert int(v2["recent_n"]) >= 10
    assert v2["compared_with"].endswith("/1/model.tar.gz")
    assert float(v2["recent_accuracy"]) > float(v2["production_recent_accuracy"])
    out = demo["stdout"]
    assert "v1 (in production)" in out and "v2 (drift retraining)" in out
    assert "Review page:" in out


def test_people_were_told_of_each_event_through_the_notification_topic(demo):
    """SNS (the emulator's) was told of the approvals, the deployments, the drift alarm, the
    wait for labels and the retraining; the summary lists what it was told."""
    notes = demo["result"]["summary"]["notifications"]
    events = [n["event"] for n in notes]
    for event in (
        "approval_needed",
        "deployed",
        "drift_alarm",
        "waiting_for_labels",
        "retraining_started",
    ):
        assert event in events, events
    assert events.index("drift_alarm") < events.index("waiting_for_labels")
    assert events.index("waiting_for_labels") < events.index("retraining_started")
    approvals = [n for n in notes if n["event"] == "approval_needed"]
    assert all("/required_actions" in n["attributes"]["link"] for n in approvals)
    # the drift alarms' own action (CloudWatch's message, through the stack's key), and no
    # task of the story failed for good
    assert any(n["alarm"] for n in notes), notes
    assert "task_failed" not in events, [n for n in notes if n["event"] == "task_failed"]
    assert "Notifications (SNS topic" in demo["stdout"]


def test_images_were_classified_into_class_folders_with_a_manifest(demo):
    s3 = demo["aws"]["s3"]
    keys = _keys(s3, "image-mlops-output", "predictions/")
    folders = {k.split("/")[1] for k in keys if not k.startswith("predictions/_manifests/")}
    assert {"mug", "shirt", "shoe", "lamp", "bottle", "book"} <= folders
    assert [k for k in keys if k.startswith("predictions/_manifests/")]


def test_kpis_alarms_and_dashboard_are_in_cloudwatch(demo):
    cloudwatch = demo["aws"]["cloudwatch"]
    summary = demo["result"]["summary"]
    assert summary["kpis"]["Accuracy"] > 0
    states = summary["alarms"]
    assert any(name.startswith(f"image-mlops-{MODEL}-") for name in states)
    assert "ALARM" in states.values(), "the injected drift put an alarm in ALARM"
    assert cloudwatch.list_dashboards()["DashboardEntries"]


def test_no_secret_it_used_appears_in_logs_xcom_output_or_journal(demo):
    """The database password, the emulator's key, Airflow's JWT and API secrets and its
    fernet key: none in the demo's output, any log, the emulator's journal and job folders,
    or the database files (task instances, XCom, HITL answers live there)."""
    import json as json_module

    env, state = demo["env"], demo["state"]
    secrets_file = state / "airflow" / "secrets.json"
    secrets = {
        "IMAGE_MLOPS_PG_PASSWORD": env["IMAGE_MLOPS_PG_PASSWORD"],
        "IMAGE_MLOPS_LOCAL_AWS_SECRET": env["IMAGE_MLOPS_LOCAL_AWS_SECRET"],
        **json_module.loads(secrets_file.read_text()),
    }
    places = {
        "demo output": (demo["stdout"] + demo["stderr"]).encode(),
        # secrets.json: where the stack keeps its own secrets
        **files_under(state, kept_by_design={secrets_file}),
    }
    assert len(places) > 50 and any(name.startswith("postgres") for name in places)
    assert any("journal" in name for name in places) and any("logs" in name for name in places)
    assert leaks(secrets, places) == []
