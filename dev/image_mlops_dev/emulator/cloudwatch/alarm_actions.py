"""CloudWatch alarm actions to SNS topics, run as CloudWatch runs them; moto never runs them.

When the evaluator (:mod:`.alarms`) moves an alarm to a state, the alarm's actions for that
state (``AlarmActions``, ``OKActions``, ``InsufficientDataActions``; only with
``ActionsEnabled``) run. An SNS topic action publishes CloudWatch's alarm message to the topic
as ``cloudwatch.amazonaws.com`` — unless the topic is encrypted with a key CloudWatch may not
use. AWS's sources (read 2026-12-07):

* Amazon SNS Developer Guide, "Enable compatibility between event sources from AWS services
  and encrypted topics" (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#
  compatibility-with-aws-services): a service that publishes to an encrypted topic (CloudWatch
  among them) needs a customer managed key whose key policy allows the service's principal
  ``kms:GenerateDataKey*`` and ``kms:Decrypt``; the AWS managed key ``alias/aws/sns`` cannot
  be given that policy;
* AWS Knowledge Center, "How do I configure a CloudWatch alarm with an encrypted Amazon SNS
  topic?" (https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns): with
  ``alias/aws/sns`` the alarm does not run its action, and the alarm's history says
  ``Failed to execute action <topic ARN>. Received error: "CloudWatch Alarms does not have
  authorization to access the SNS topic encryption key."``

So: no key, or a customer managed key whose policy allows CloudWatch both actions → the
message is published (and delivered to the topic's subscriptions, the local inbox's queue
among them); an AWS managed key, or a key policy without that grant → nothing is published.
Either way the alarm's history gets an ``Action`` item (``DescribeAlarmHistory``, which moto
lacks and :func:`apply` adds), as on AWS. Action history lives in the emulator's memory: after
a restart, the journal replays the alarms' states, not the actions they ran.

Not emulated: actions other than SNS topics (Auto Scaling, EC2, Systems Manager), the SNS
topic policy's ``aws:SourceArn``/``aws:SourceAccount`` conditions (the emulator does not
evaluate topic policies), and the region's long name in the subject (AWS writes
``in US East (N. Virginia)``; the emulator writes the region code).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from image_mlops_dev.emulator.iam.evaluation import RequestContext, decide, statements

log = logging.getLogger("image_mlops.emulator.alarms")

#: The AWS managed key of SNS, by alias.
AWS_MANAGED_SNS_KEY = "alias/aws/sns"
#: What CloudWatch's alarm history says when the topic's key does not let it publish.
KEY_REFUSED = (
    "CloudWatch Alarms does not have authorization to access the SNS topic encryption key."
)
#: What CloudWatch needs of the topic's key to publish to it.
NEEDED_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
CLOUDWATCH = "cloudwatch.amazonaws.com"
_ACTIONS_OF_STATE = {
    "ALARM": "AlarmActions",
    "OK": "OKActions",
    "INSUFFICIENT_DATA": "InsufficientDataActions",
}
#: (account, region, alarm name) → the alarm's Action history items, oldest first.
_HISTORY: dict[tuple[str, str, str], list[dict[str, Any]]] = {}


def actions_for(alarm: dict[str, Any], state: str) -> list[str]:
    """The actions ``alarm`` (a DescribeAlarms record) runs on entering ``state``."""
    if not alarm.get("ActionsEnabled", True):
        return []
    return list(alarm.get(_ACTIONS_OF_STATE[state]) or [])


def key_policy_allows_cloudwatch(policy: Any, key_arn: str) -> bool:
    """Whether the key policy lets CloudWatch decrypt and generate data keys with the key
    ``key_arn``, as IAM evaluates a resource-based policy (:mod:`..iam.evaluation`).
    CloudWatch's request context is not emulated, so a conditional Allow is not counted and a
    conditional Deny is."""
    judged = {
        "Statement": [
            {k: v for k, v in statement.items() if k != "Condition"}
            for statement in statements(policy)
            if statement.get("Effect") == "Deny" or not statement.get("Condition")
        ]
    }
    return all(
        decide(
            [],
            [judged],
            RequestContext(
                action=action, resource=key_arn, principal=CLOUDWATCH, service=CLOUDWATCH
            ),
        ).allowed
        for action in NEEDED_KEY_ACTIONS
    )


def key_refusal(kms: Any, key_id: str) -> str | None:
    """Why CloudWatch may not use the topic's key ``key_id`` (None: it may)."""
    if key_id == AWS_MANAGED_SNS_KEY or key_id.endswith(":" + AWS_MANAGED_SNS_KEY):
        return KEY_REFUSED
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    if metadata.get("KeyManager") == "AWS":
        return KEY_REFUSED
    policy = kms.get_key_policy(KeyId=metadata["KeyId"], PolicyName="default")["Policy"]
    return None if key_policy_allows_cloudwatch(policy, metadata["Arn"]) else KEY_REFUSED


def alarm_message(alarm: dict[str, Any], old: str, new: str, reason: str, when: dt.datetime):
    """CloudWatch's SNS message of a state change (the fields subscribers read)."""
    arn = alarm["AlarmArn"]
    trigger: dict[str, Any] = {
        "MetricName": alarm.get("MetricName"),
        "Namespace": alarm.get("Namespace"),
        "Statistic": str(alarm.get("Statistic", "")).upper(),
        "Dimensions": [
            {"name": d["Name"], "value": d["Value"]} for d in alarm.get("Dimensions", [])
        ],
        "Period": alarm.get("Period"),
        "EvaluationPeriods": alarm.get("EvaluationPeriods"),
        "ComparisonOperator": alarm.get("ComparisonOperator"),
        "Threshold": alarm.get("Threshold"),
        "TreatMissingData": alarm.get("TreatMissingData"),
    }
    return {
        "AlarmName": alarm["AlarmName"],
        "AlarmDescription": alarm.get("AlarmDescription"),
        "AWSAccountId": arn.split(":")[4],
        "NewStateValue": new,
        "NewStateReason": reason,
        "StateChangeTime": when.isoformat(timespec="milliseconds"),
        "Region": arn.split(":")[3],
        "AlarmArn": arn,
        "OldStateValue": old,
        "OKActions": alarm.get("OKActions", []),
        "AlarmActions": alarm.get("AlarmActions", []),
        "InsufficientDataActions": alarm.get("InsufficientDataActions", []),
        "Trigger": trigger,
    }


def run_actions(
    client: Any,
    alarm: dict[str, Any],
    new: str,
    reason: str,
    when: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Run ``alarm``'s actions for its move from its state in ``alarm`` to ``new``;
    ``client(service)`` is a client acting as CloudWatch. Returns the history items added."""
    when = when or dt.datetime.now(dt.UTC)
    old = alarm.get("StateValue", "INSUFFICIENT_DATA")
    arn = alarm["AlarmArn"]
    account, region = arn.split(":")[4], arn.split(":")[3]
    items = []
    for action in actions_for(alarm, new):
        if not action.startswith("arn:aws:sns:"):
            log.warning("alarm %s: action %s is not emulated", alarm["AlarmName"], action)
            continue
        message = alarm_message(alarm, old, new, reason, when)
        error = None
        try:
            attributes = client("sns").get_topic_attributes(TopicArn=action)["Attributes"]
            key_id = attributes.get("KmsMasterKeyId")
            error = key_refusal(client("kms"), key_id) if key_id else None
            if error is None:
                client("sns").publish(
                    TopicArn=action,
                    Subject=f'{new}: "{alarm["AlarmName"]}" in {region}'[:100],
                    Message=json.dumps(message),
                )
        except Exception as exc:  # a missing topic or key fails the action, as on AWS
            error = str(exc)
        item = action_history_item(alarm["AlarmName"], action, message, error, when)
        _HISTORY.setdefault((account, region, alarm["AlarmName"]), []).append(item)
        if error:
            log.warning("alarm %s: action %s failed: %s", alarm["AlarmName"], action, error)
        else:
            log.info("alarm %s: notified %s", alarm["AlarmName"], action)
        items.append(item)
    return items


def action_history_item(
    name: str, action: str, message: dict[str, Any], error: str | None, when: dt.datetime
) -> dict[str, Any]:
    """An ``AlarmHistoryItem`` of type ``Action``, as CloudWatch writes it."""
    if error:
        summary = f'Failed to execute action {action}. Received error: "{error}"'
        data: dict[str, Any] = {"actionState": "Failed", "error": error}
    else:
        summary = f"Successfully executed action {action}"
        data = {"actionState": "Succeeded", "publishedMessage": message}
    data = {
        **data,
        "stateUpdateTimestamp": int(when.timestamp() * 1000),
        "notificationResource": action,
    }
    return {
        "AlarmName": name,
        "AlarmType": "MetricAlarm",
        "Timestamp": when,
        "HistoryItemType": "Action",
        "HistorySummary": summary,
        "HistoryData": json.dumps(data),
    }


def _utc(moment: dt.datetime) -> dt.datetime:
    """moto keeps naive UTC times; AWS's are UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def state_history_items(alarm: Any) -> list[dict[str, Any]]:
    """The ``StateUpdate`` items of a moto alarm: moto keeps, before each update, the state
    it leaves (``("StateUpdate", reason, reason data, value, since)``)."""
    before = [entry for entry in alarm.history if entry[0] == "StateUpdate"]
    after = [(e[1], e[3], e[4]) for e in before[1:]]
    after.append((alarm.state_reason, alarm.state_value, alarm.state_updated_timestamp))
    items = []
    for (_, _, old_reason, old_value, _), (new_reason, new_value, at) in zip(
        before, after, strict=True
    ):
        data = {
            "version": "1.0",
            "oldState": {"stateValue": old_value, "stateReason": old_reason},
            "newState": {"stateValue": new_value, "stateReason": new_reason},
        }
        items.append(
            {
                "AlarmName": alarm.name,
                "AlarmType": "MetricAlarm",
                "Timestamp": _utc(at),
                "HistoryItemType": "StateUpdate",
                "HistorySummary": f"Alarm updated from {old_value} to {new_value}",
                "HistoryData": json.dumps(data),
            }
        )
    return items


def describe_alarm_history(
    backend: Any,
    account: str,
    region: str,
    *,
    alarm_name: str | None = None,
    item_type: str | None = None,
    start: dt.datetime | None = None,
    end: dt.datetime | None = None,
    newest_first: bool = True,
) -> list[dict[str, Any]]:
    """DescribeAlarmHistory's items: the alarms' state updates and the actions they ran."""
    items: list[dict[str, Any]] = []
    for name, alarm in backend.alarms.items():
        if alarm_name and name != alarm_name:
            continue
        items += state_history_items(alarm)
        items += _HISTORY.get((account, region, name), [])
    if item_type:
        items = [i for i in items if i["HistoryItemType"] == item_type]
    if start:
        items = [i for i in items if i["Timestamp"] >= _utc(start)]
    if end:
        items = [i for i in items if i["Timestamp"] <= _utc(end)]
    return sorted(items, key=lambda i: i["Timestamp"], reverse=newest_first)


def keep_state_on_update(previous: Any, updated: Any) -> None:
    """An update of an existing alarm leaves its state as it was (CloudWatch API Reference,
    PutMetricAlarm, read 2026-12-07: "When you update an existing alarm, its state is left
    unchanged, but the update completely overwrites the previous configuration of the
    alarm"). moto builds a new alarm in state OK instead, so every monitor_model run that
    re-puts a breaching alarm would move it OK → ALARM again and run its actions again."""
    updated.history = previous.history
    updated.state_reason = previous.state_reason
    updated.state_reason_data = previous.state_reason_data
    updated.state_value = previous.state_value
    updated.state_updated_timestamp = previous.state_updated_timestamp


def apply() -> None:
    """Give moto's CloudWatch ``DescribeAlarmHistory``, and keep an alarm's state when
    PutMetricAlarm updates it."""
    from moto.cloudwatch.models import CloudWatchBackend
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.core.responses import ActionResult

    from image_mlops_dev.emulator.moto_patches import add, original, patch

    def put_metric_alarm(self: Any, name: str, *args: Any, **kwargs: Any) -> Any:
        previous = self.alarms.get(name)
        alarm = original(CloudWatchBackend, "put_metric_alarm")(self, name, *args, **kwargs)
        if previous is not None:
            keep_state_on_update(previous, alarm)
        return alarm

    patch(CloudWatchBackend, "put_metric_alarm", put_metric_alarm)

    def describe_alarm_history_response(self: Any) -> Any:
        items = describe_alarm_history(
            self.cloudwatch_backend,
            self.current_account,
            self.region,
            alarm_name=self._get_param("AlarmName"),
            item_type=self._get_param("HistoryItemType"),
            start=self._get_param("StartDate"),
            end=self._get_param("EndDate"),
            newest_first=self._get_param("ScanBy", "TimestampDescending") == "TimestampDescending",
        )
        limit = int(self._get_param("MaxRecords") or 100)
        return ActionResult({"AlarmHistoryItems": items[:limit]})

    add(CloudWatchResponse, "describe_alarm_history", describe_alarm_history_response)
