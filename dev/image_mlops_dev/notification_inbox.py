"""An SQS queue subscribed to the notification topic: how the local stack (and the demo's
summary, and the tests) read what SNS was told. On AWS, subscribe e-mail, chat or a queue
of your own to the topic instead.

The inbox is the local stack's, not the pipeline's: it is made and read with the stack's
bootstrap key, the way a person would subscribe a queue of their own."""

from __future__ import annotations

import json
from typing import Any

from image_mlops.config import Settings, get_settings
from image_mlops.notifications import topic_arn
from image_mlops_dev.stack.identities import admin_client


def subscribe_queue(name: str, settings: Settings | None = None) -> str:
    """Create queue ``name`` (idempotent), let the topic send to it, subscribe it; returns its
    URL."""
    settings = settings or get_settings()
    topic = topic_arn(settings)
    sqs, sns = admin_client("sqs", settings), admin_client("sns", settings)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(policy)})
    subscribed = {
        s["Endpoint"]
        for page in sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
        for s in page["Subscriptions"]
    }
    if queue_arn not in subscribed:
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    return url


def unsubscribe_queue(url: str, settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    sqs, sns = admin_client("sqs", settings), admin_client("sns", settings)
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for page in sns.get_paginator("list_subscriptions_by_topic").paginate(
        TopicArn=topic_arn(settings)
    ):
        for subscription in page["Subscriptions"]:
            if subscription["Endpoint"] == queue_arn:
                sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
    sqs.delete_queue(QueueUrl=url)


def _alarm_name(message: str | None) -> str | None:
    """The alarm of CloudWatch's alarm message (JSON with ``AlarmName``), else None."""
    try:
        body = json.loads(message or "")
    except ValueError:
        return None
    return body.get("AlarmName") if isinstance(body, dict) else None


def drain(url: str, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every notification waiting in the queue (received and deleted), oldest first:
    ``{"event", "subject", "message", "attributes", "sent_at", "alarm"}``. ``event`` is the
    pipeline's ``event`` attribute; CloudWatch's alarm messages have none, and ``alarm`` names
    their alarm (None for the pipeline's)."""
    sqs = admin_client("sqs", settings or get_settings())
    notes = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            break
        for message in batch:
            envelope = json.loads(message["Body"])  # SNS's JSON envelope
            attributes = {
                k: v.get("Value") for k, v in (envelope.get("MessageAttributes") or {}).items()
            }
            notes.append(
                {
                    "event": attributes.get("event"),
                    "subject": envelope.get("Subject"),
                    "message": envelope.get("Message"),
                    "attributes": attributes,
                    "sent_at": envelope.get("Timestamp"),
                    "alarm": _alarm_name(envelope.get("Message")),
                }
            )
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)
            ],
        )
    return sorted(notes, key=lambda note: note["sent_at"] or "")
