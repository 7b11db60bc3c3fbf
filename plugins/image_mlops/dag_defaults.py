"""The ``default_args`` every DAG shares: who owns the tasks, how they retry, who is told.

* ``owner`` — the team, not ``airflow``;
* ``retries`` — :data:`RETRIES`; a DAG that needs another number passes ``retries=`` and says
  why beside it;
* ``retry_delay`` — :data:`RETRY_DELAY` (a ``pendulum`` duration, as everywhere in the DAGs);
* ``on_failure_callback`` — a task that fails for good (its retries spent) publishes
  ``task_failed`` with the link to its log to the notification topic, through the Amazon
  provider's ``SnsNotifier`` (:func:`image_mlops.notifications.task_failure_notifier`); left
  out when notifications are off (``IMAGE_MLOPS_NOTIFICATION_TOPIC`` empty).
"""

from __future__ import annotations

from typing import Any

import pendulum

from image_mlops.config import Settings
from image_mlops.notifications import task_failure_notifier

OWNER = "image-mlops"
RETRIES = 2
RETRY_DELAY = pendulum.duration(seconds=30)


def default_args(settings: Settings, *, retries: int = RETRIES) -> dict[str, Any]:
    """A DAG's ``default_args``."""
    args: dict[str, Any] = {"owner": OWNER, "retries": retries, "retry_delay": RETRY_DELAY}
    notifier = task_failure_notifier(settings)
    if notifier is not None:
        args["on_failure_callback"] = notifier
    return args
