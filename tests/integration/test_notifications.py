"""People are told when something breaks: a failed task of a real DAG run reaches the
notification topic with the link to its log, and the alarms' actions reach it as CloudWatch
runs them — delivered with the stack's own key, refused (nothing delivered, the failure in the
alarm's history) with the AWS managed key ``alias/aws/sns``, as AWS does (sources:
``image_mlops_dev.emulator.cloudwatch.alarm_actions``)."""

from __future__ import annotations

import json
import time
import uuid
from urllib.parse import quote

import pytest
from conftest import ADMIN_CONN, run_dag, wait_for_alarm_evaluation, wait_for_alarm_states

from image_mlops.cloudwatch.hooks import CloudWatchMetricsHook

pytestmark = pytest.mark.stack


def test_a_failed_task_tells_the_topic_with_the_link_to_its_log(
    dag_bag, settings, notification_inbox
):
    from airflow.configuration import conf

    dag = dag_bag.get_dag("deploy_model")
    task = dag.get_task("resolve_candidate")
    retries = task.retries
    task.retries = 0  # fail for good at once (the DAG's one retry would wait 30 s)
    try:
        run = run_dag(dag_bag, "deploy_model", conf={"model_package": 987654})
    finally:
        task.retries = retries
    assert run.state == "failed"
    assert run.get_task_instance("resolve_candidate").state == "failed"
    notes = notification_inbox()
    [note] = [n for n in notes if n["event"] == "task_failed"]
    base = conf.get("api", "base_url", fallback="http://localhost:8080/").rstrip("/")
    link = f"{base}/dags/deploy_model/runs/{quote(run.run_id)}/tasks/resolve_candidate?try_number=1"
    assert note["subject"] == "Failed: deploy_model.resolve_candidate"
    assert note["attributes"] == {
        "event": "task_failed",
        "model": settings.model_name,
        "dag_id": "deploy_model",
        "task_id": "resolve_candidate",
        "run_id": run.run_id,
        "link": link,
    }
    assert f"Log: {link}" in note["message"]
    assert (
        f"Task resolve_candidate of DAG deploy_model failed (try 1, run {run.run_id})"
        in (note["message"])
    )
    # the exception, where Airflow hands it to the callback (3.3; 3.2's dag.test() does not)
    from airflow import __version__ as airflow_version

    if not airflow_version.startswith("3.2."):
        assert "Error: " in note["message"] and "987654" in note["message"]


def test_a_failed_quality_gate_tells_the_topic(settings, notification_inbox):
    """Decided where the gate decides (training.steps.quality_gate), as the worker role."""
    from image_mlops.training import gate
    from image_mlops.training.steps import quality_gate

    evaluated = {"accuracy": 0.1, "production_accuracy": None, "recent": None}
    with pytest.raises(gate.QualityGateFailed) as failed:
        quality_gate(settings, evaluated)
    [note] = [n for n in notification_inbox() if n["event"] == "quality_gate_failed"]
    assert note["message"] == str(failed.value)
    assert "accuracy 0.1000 is below the minimum" in note["message"]
    assert note["attributes"]["accuracy"] == "0.1"


def test_a_validation_run_whose_counts_do_not_add_up_tells_the_topic(
    settings, aws, notification_inbox
):
    """Decided where the run is finalised (validation.pipeline.finalize_run): a batch result
    with one object neither validated nor quarantined."""
    from image_mlops import s3layout
    from image_mlops.aws import put_json
    from image_mlops.validation.pipeline import ValidationRunError, finalize_run

    run_id = f"manual__notify-{uuid.uuid4().hex[:8]}"
    manifest = s3layout.run_manifest_key(run_id, 1)
    result = {
        "listed": 3,
        "in": 3,
        "validated": 1,
        "quarantined": 1,
        "skipped": 0,
        "by_reason": {"not_an_image": 1},
        "validated_by_area": {"incoming": 1},
    }
    put_json(aws.s3, settings.raw_bucket, s3layout.run_result_key(manifest), result)
    aws.s3.put_object(
        Bucket=settings.raw_bucket, Key=s3layout.run_reasons_part_key(manifest), Body=b""
    )
    with pytest.raises(ValidationRunError, match="3 objects in but 1 validated"):
        finalize_run(settings, run_id, [manifest])
    [note] = [n for n in notification_inbox() if n["event"] == "validation_counts_mismatch"]
    assert note["attributes"]["run_id"] == run_id
    assert "3 objects in but 1 validated + 1 quarantined" in note["message"]


# -- Alarm actions ----------------------------------------------------------------------------
NAMESPACE = "ImageMLOpsTests/AlarmActions"
KEY_FOR_CLOUDWATCH = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
            "Resource": "*",
        },
    ],
}


@pytest.fixture
def topics(admin):
    """Three topics, each with a queue of its own subscribed: encrypted with a customer
    managed key CloudWatch may use, with the AWS managed key, and with a customer managed
    key whose policy does not name CloudWatch."""
    tag = uuid.uuid4().hex[:8]
    with_grant = admin.kms.create_key(Policy=json.dumps(KEY_FOR_CLOUDWATCH))["KeyMetadata"]
    no_grant_policy = {**KEY_FOR_CLOUDWATCH, "Statement": KEY_FOR_CLOUDWATCH["Statement"][:1]}
    without = admin.kms.create_key(Policy=json.dumps(no_grant_policy))["KeyMetadata"]
    keys = {
        "customer_key": with_grant["KeyId"],
        "aws_managed_key": "alias/aws/sns",
        "key_without_cloudwatch": without["KeyId"],
    }
    made = {}
    for name, key in keys.items():
        arn = admin.sns.create_topic(
            Name=f"alarm-actions-{name.replace('_', '-')}-{tag}",
            Attributes={"KmsMasterKeyId": key},
        )["TopicArn"]
        url = admin.sqs.create_queue(QueueName=f"alarm-actions-{name.replace('_', '-')}-{tag}")[
            "QueueUrl"
        ]
        queue_arn = admin.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        admin.sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn)
        made[name] = (arn, url)
    yield made
    for arn, url in made.values():
        admin.sns.delete_topic(TopicArn=arn)
        admin.sqs.delete_queue(QueueUrl=url)
    for key in (with_grant, without):
        admin.kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)


def _messages(sqs, url: str) -> list[dict]:
    found = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in found]


def _breach(admin, alarm: str, actions: list[str]) -> None:
    admin.cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace=NAMESPACE,
        MetricName="Breaches",
        Dimensions=[{"Name": "Alarm", "Value": alarm}],
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        ActionsEnabled=True,
        AlarmActions=actions,
    )
    admin.cloudwatch.put_metric_data(
        Namespace=NAMESPACE,
        MetricData=[
            {
                "MetricName": "Breaches",
                "Dimensions": [{"Name": "Alarm", "Value": alarm}],
                "Value": 1.0,
                "Unit": "Count",
            }
        ],
    )
    wait_for_alarm_evaluation()
    hook = CloudWatchMetricsHook(
        aws_conn_id=ADMIN_CONN, region_name=admin.cloudwatch.meta.region_name
    )
    wait_for_alarm_states(hook, {alarm: "ALARM"}, timeout=30)


def test_an_alarm_action_reaches_a_topic_with_a_key_cloudwatch_may_use_and_no_other(admin, topics):
    alarm = f"alarm-actions-{uuid.uuid4().hex[:8]}"
    arns = {name: arn for name, (arn, _url) in topics.items()}
    try:
        _breach(admin, alarm, list(arns.values()))
        # delivered: CloudWatch's message, to the topic of the customer managed key
        [message] = _messages(admin.sqs, topics["customer_key"][1])
        assert message["Subject"] == f'ALARM: "{alarm}" in us-east-1'
        body = json.loads(message["Message"])
        assert (body["AlarmName"], body["NewStateValue"]) == (alarm, "ALARM")
        assert body["AlarmActions"] == list(arns.values())
        # refused: nothing reaches the others
        assert _messages(admin.sqs, topics["aws_managed_key"][1]) == []
        assert _messages(admin.sqs, topics["key_without_cloudwatch"][1]) == []
        # and the alarm's history says so, as CloudWatch's does
        history = admin.cloudwatch.describe_alarm_history(
            AlarmName=alarm, HistoryItemType="Action"
        )["AlarmHistoryItems"]
        by_summary = sorted(item["HistorySummary"] for item in history)
        refused = (
            "CloudWatch Alarms does not have authorization to access the SNS topic encryption key."
        )
        assert by_summary == sorted(
            [
                f"Successfully executed action {arns['customer_key']}",
                f'Failed to execute action {arns["aws_managed_key"]}. Received error: "{refused}"',
                f"Failed to execute action {arns['key_without_cloudwatch']}. Received error: "
                f'"{refused}"',
            ]
        )
        failed = [json.loads(i["HistoryData"]) for i in history if "Failed" in i["HistorySummary"]]
        assert {d["actionState"] for d in failed} == {"Failed"}
        states = admin.cloudwatch.describe_alarm_history(
            AlarmName=alarm, HistoryItemType="StateUpdate"
        )["AlarmHistoryItems"]
        assert states[0]["HistorySummary"].endswith("to ALARM")
    finally:
        admin.cloudwatch.delete_alarms(AlarmNames=[alarm])


def test_an_alarm_updated_while_in_alarm_keeps_its_state_and_tells_the_topic_once(admin, topics):
    """monitor_model puts its alarms again on every run: as on AWS, an update leaves the
    state as it was, so a breaching alarm does not run its actions again."""
    alarm = f"alarm-update-{uuid.uuid4().hex[:8]}"
    arn, url = topics["customer_key"]

    def drain() -> list[dict]:
        found = admin.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        for message in found:
            admin.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return found

    try:
        _breach(admin, alarm, [arn])
        assert len(drain()) == 1
        _breach(admin, alarm, [arn])  # the same definition again, and another breaching datum
        wait_for_alarm_evaluation()
        assert drain() == []
        states = admin.cloudwatch.describe_alarm_history(
            AlarmName=alarm, HistoryItemType="StateUpdate"
        )["AlarmHistoryItems"]
        assert [s["HistorySummary"] for s in states] == ["Alarm updated from OK to ALARM"]
    finally:
        admin.cloudwatch.delete_alarms(AlarmNames=[alarm])


def test_the_integrity_alarm_tells_the_stacks_topic(settings, admin, notification_inbox):
    """The template's topic (its own key) and the alarm as the package defines it: a refused
    artifact reaches the inbox twice — the package's integrity_refused, then CloudWatch's
    alarm message. (A model name of the test's own: the session's integrity alarm stays
    quiet for the other modules.)"""
    import dataclasses

    from image_mlops.monitoring.alarms import ensure_integrity_alarm
    from image_mlops.monitoring.metrics import integrity_alarm_name
    from image_mlops.notifications import topic_arn
    from image_mlops.serving.integrity import ApprovedArtifact, report_failure

    own = dataclasses.replace(settings, model_name=f"{settings.model_name}-n{uuid.uuid4().hex[:6]}")
    name = ensure_integrity_alarm(own)
    assert name == integrity_alarm_name(own.model_name)
    try:
        [alarm] = admin.cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"]
        assert alarm["ActionsEnabled"] is True
        assert alarm["AlarmActions"] == [topic_arn(settings)]
        approved = ApprovedArtifact(f"s3://{own.models_bucket}/tests/model.tar.gz", "0" * 64)
        report_failure(approved, "test", "has sha256 " + "1" * 64, own)
        deadline = time.monotonic() + 60
        notes: list[dict] = []
        while not any(n["event"] is None for n in notes):
            assert time.monotonic() < deadline, f"no alarm message; inbox: {notes}"
            time.sleep(0.5)
            notes += notification_inbox()
        [refused] = [n for n in notes if n["event"] == "integrity_refused"]
        assert refused["attributes"]["artifact"] == approved.url
        assert refused["attributes"]["model"] == own.model_name
        [alarm_note] = [n for n in notes if n["event"] is None]
        body = json.loads(alarm_note["message"])
        assert (body["AlarmName"], body["NewStateValue"]) == (name, "ALARM")
    finally:
        admin.cloudwatch.delete_alarms(AlarmNames=[name])
