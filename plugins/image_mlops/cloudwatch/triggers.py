"""Deferrable triggers of the CloudWatch sensors.

aiobotocore is not installed, so each check runs the hook's sync call in a worker thread
(``asyncio.to_thread``) and the triggerer's event loop stays free. A trigger gives up at
``deadline`` (epoch seconds) with a ``timeout`` event; the sensor turns that into a skip
(``soft_fail``) or a timeout error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class _CloudWatchPollTrigger(BaseTrigger):
    def __init__(
        self,
        *,
        poke_interval: float,
        deadline: float,
        aws_conn_id: str | None,
        region_name: str | None,
    ) -> None:
        super().__init__()
        self.poke_interval = poke_interval
        self.deadline = deadline
        self.aws_conn_id = aws_conn_id
        self.region_name = region_name

    def _base_kwargs(self) -> dict[str, Any]:
        return {
            "poke_interval": self.poke_interval,
            "deadline": self.deadline,
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name,
        }

    def hook(self):
        from image_mlops.cloudwatch.hooks import CloudWatchMetricsHook

        return CloudWatchMetricsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    def check(self) -> dict | None:  # pragma: no cover - overridden
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await asyncio.to_thread(self.check)
            except Exception as exc:
                yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
                return
            if result is not None:
                yield TriggerEvent({"status": "success", **result})
                return
            if time.time() >= self.deadline:
                yield TriggerEvent({"status": "timeout", "attempts": attempt})
                return
            self.log.info(
                "Condition not met (attempt %s); next check in %ss", attempt, self.poke_interval
            )
            await asyncio.sleep(self.poke_interval)


class CloudWatchAlarmTrigger(_CloudWatchPollTrigger):
    """Fires when the selected alarms are in ``target_state`` (any or all of them)."""

    def __init__(
        self,
        *,
        alarm_names: list[str] | None,
        alarm_name_prefix: str | None,
        target_state: str,
        require_all: bool,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alarm_names = alarm_names
        self.alarm_name_prefix = alarm_name_prefix
        self.target_state = target_state
        self.require_all = require_all

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "alarm_names": self.alarm_names,
                "alarm_name_prefix": self.alarm_name_prefix,
                "target_state": self.target_state,
                "require_all": self.require_all,
                **self._base_kwargs(),
            },
        )

    def check(self) -> dict | None:
        from image_mlops.cloudwatch.conditions import alarms_matching

        return alarms_matching(
            self.hook(),
            alarm_names=self.alarm_names,
            alarm_name_prefix=self.alarm_name_prefix,
            target_state=self.target_state,
            require_all=self.require_all,
        )


class CloudWatchMetricTrigger(_CloudWatchPollTrigger):
    """Fires when a metric / metric-math query breaches its threshold over N periods."""

    def __init__(self, *, condition: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.condition = condition

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {"condition": self.condition, **self._base_kwargs()},
        )

    def check(self) -> dict | None:
        from image_mlops.cloudwatch.conditions import ALARM, metric_condition

        result = metric_condition(self.hook(), **self.condition)
        if result.state == ALARM:
            return {"reason": result.reason, "values": result.values}
        return None
