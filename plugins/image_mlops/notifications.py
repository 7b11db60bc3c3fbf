"""Notifications: one SNS topic for the events people act on.

Events (the ``event`` message attribute, for subscription filter policies):

* ``approval_needed`` — a deploy_model approval waits (the message has the link to the
  approval in the Airflow UI): :class:`ApprovalNotifier`, an Airflow notifier on both approval
  tasks;
* ``deployed`` — a model passed its production check and serves production;
* ``rolled_back`` — a production update was rolled back (by an alarm during the traffic
  shift, or by its check) and the previous model serves;
* ``drift_alarm`` — the model's alarms moved to ALARM (the first retraining decision after
  they did);
* ``retraining_started`` — retrain_on_drift triggered train_and_register;
* ``waiting_for_labels`` — the drift is real but the labels to learn it are not there yet
  (once per wait, not at every decision);
* ``task_failed`` — a task of any DAG failed for good (its retries spent), with the link to
  its log: :func:`task_failure_notifier`, every DAG's ``on_failure_callback``
  (:mod:`image_mlops.dag_defaults`);
* ``quality_gate_failed`` — a trained candidate missed the quality gate and was not
  registered;
* ``smoke_test_failed`` — a deployed model failed its smoke test (staging: production is
  untouched; production: it is rolled back, and ``rolled_back`` follows);
* ``validation_counts_mismatch`` — a validation run's books do not balance (objects in !=
  validated + quarantined);
* ``integrity_refused`` — an artifact was refused because its bytes are not the approved
  ones.

CloudWatch tells the same topic when the drift or integrity alarms go to ALARM (their
``AlarmActions``: :mod:`image_mlops.monitoring.alarms`); those messages are CloudWatch's own
JSON, without the ``event`` attribute.

The topic is ``IMAGE_MLOPS_NOTIFICATION_TOPIC`` (a name in the deployment's account and
region, or an ARN; empty: no notifications). Locally ``make up`` creates it in the emulator's
SNS with a queue subscribed, which the demo summary reads. A notification that cannot be
sent is logged and the pipeline goes on: people are told, the model is not held back.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from airflow.providers.amazon.aws.hooks.sns import SnsHook
from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

from image_mlops.config import Settings

log = logging.getLogger(__name__)

EVENTS = (
    "approval_needed",
    "deployed",
    "rolled_back",
    "drift_alarm",
    "retraining_started",
    "waiting_for_labels",
    "task_failed",
    "quality_gate_failed",
    "smoke_test_failed",
    "validation_counts_mismatch",
    "integrity_refused",
)
#: SNS refuses a subject over 100 characters.
MAX_SUBJECT = 100


def topic_arn(settings: Settings) -> str | None:
    """The notification topic's ARN (None: notifications are off)."""
    topic = settings.notification_topic.strip()
    if not topic:
        return None
    if topic.startswith("arn:"):
        return topic
    return f"arn:aws:sns:{settings.region}:{settings.account_id}:{topic}"


def attributes(event: str, settings: Settings, **extra: Any) -> dict[str, Any]:
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}: one of {', '.join(EVENTS)}")
    values = {"event": event, "model": settings.model_name, **extra}
    return {k: v if isinstance(v, int | float) else str(v) for k, v in values.items() if v}


def notify(settings: Settings, event: str, subject: str, message: str, **extra: Any) -> str | None:
    """Publish one notification; returns its MessageId (None: off, or it could not be sent)."""
    from botocore.exceptions import BotoCoreError, ClientError

    target = topic_arn(settings)
    message_attributes = attributes(event, settings, **extra)
    if target is None:
        return None
    try:
        response = SnsHook(
            aws_conn_id=settings.aws_conn_id, region_name=settings.region
        ).publish_to_target(
            target_arn=target,
            message=message,
            subject=subject[:MAX_SUBJECT],
            message_attributes=message_attributes,
        )
    except (BotoCoreError, ClientError) as exc:
        log.warning("notification %s to %s not sent: %s", event, target, exc)
        return None
    log.info("notified %s: %s", event, subject)
    return response.get("MessageId")


class ApprovalNotifier(SnsNotifier):
    """``approval_needed``, with the link to the approval (the task's *Required actions*).

    For a HITL operator's ``notifiers``: it runs when the task starts waiting. The link is
    built from ``[api] base_url`` (the api-server's address users open).
    """

    def __init__(self, settings: Settings, *, subject: str, **kwargs: Any) -> None:
        super().__init__(
            aws_conn_id=settings.aws_conn_id,
            region_name=settings.region,
            target_arn=topic_arn(settings) or "",
            subject=subject,
            message=subject,
            message_attributes=attributes("approval_needed", settings),
            **kwargs,
        )

    def notify(self, context: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        if not self.target_arn:
            return
        from airflow.providers.standard.operators.hitl import HITLOperator

        try:
            link = HITLOperator.generate_link_to_ui_from_context(context=context)
        except ValueError as exc:  # no [api] base_url
            link = f"(no link: {exc})"
        self.message = f"{self.subject}\n\nAnswer in Airflow: {link}"
        self.subject = self.subject[:MAX_SUBJECT]
        self.message_attributes = {**(self.message_attributes or {}), "link": link}
        try:
            super().notify(context)
        except (BotoCoreError, ClientError) as exc:
            log.warning("approval notification to %s not sent: %s", self.target_arn, exc)


#: The failed task, its try and the link to its log, rendered from the task's context.
TASK_FAILED_SUBJECT = "{{ ('Failed: ' ~ ti.dag_id ~ '.' ~ ti.task_id)[:100] }}"
TASK_FAILED_MESSAGE = (
    "Task {{ ti.task_id }}"
    "{{ '[%d]' % ti.map_index if ti.map_index is not none and ti.map_index >= 0 else '' }}"
    " of DAG {{ ti.dag_id }} failed (try {{ ti.try_number }}, run {{ ti.run_id }}).\n\n"
    # a worker's context has the exception; Airflow 3.2's dag.test() gives none (the log has it)
    "{% if exception is defined %}Error: {{ exception }}\n\n{% endif %}"
    "Log: {{ ti.log_url }}\n"
)


class TaskFailureNotifier(SnsNotifier):
    """``task_failed``: the provider's notifier, its subject, message and attributes rendered
    from the failed task's context (the log link is ``ti.log_url``, built from
    ``[api] base_url``).

    One instance serves every task of a DAG (``default_args``); each call renders into a copy,
    so a second failure in the same process (``dag.test()``, mapped tasks) is not sent with
    the first one's text.
    """

    def __init__(self, *, settings: Settings, target_arn: str, **kwargs: Any) -> None:
        super().__init__(
            aws_conn_id=settings.aws_conn_id,
            region_name=settings.region,
            target_arn=target_arn,
            subject=TASK_FAILED_SUBJECT,
            message=TASK_FAILED_MESSAGE,
            message_attributes=attributes(
                "task_failed",
                settings,
                dag_id="{{ ti.dag_id }}",
                task_id="{{ ti.task_id }}",
                run_id="{{ ti.run_id }}",
                link="{{ ti.log_url }}",
            ),
            **kwargs,
        )

    def __call__(self, *args: Any) -> None:
        return SnsNotifier.__call__(copy.copy(self), *args)


def task_failure_notifier(settings: Settings) -> TaskFailureNotifier | None:
    """The ``on_failure_callback`` of every DAG (None: notifications are off)."""
    target = topic_arn(settings)
    return None if target is None else TaskFailureNotifier(settings=settings, target_arn=target)
