"""Deferrable triggers of the CloudWatch sensors.

As the Amazon provider's own triggers do, each trigger has one hook and asks CloudWatch with
the hook's aiobotocore client (``async with await self.hook.get_async_conn() as client``), so
the triggerer's event loop never waits on a call. What a check decides is
:mod:`image_mlops.cloudwatch.conditions`', the same code as the sensors' ``poke``. A trigger
gives up at ``deadline`` (epoch seconds) with a ``timeout`` event; the sensor turns that into
a skip (``soft_fail``) or a timeout error.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import cached_property
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from image_mlops.cloudwatch import conditions
from image_mlops.cloudwatch.hooks import (
    CloudWatchMetricsHook,
    add_metric_results,
    describe_alarms_request,
    get_metric_data_requests,
    oldest_first,
)


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

    @cached_property
    def hook(self) -> CloudWatchMetricsHook:
        return CloudWatchMetricsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    async def check(self, client: Any) -> dict | None:  # pragma: no cover - overridden
        """The event's payload when the condition holds, else None (``client``: aiobotocore)."""
        raise NotImplementedError

    async def run(self) -> AsyncIterator[TriggerEvent]:
        attempt = 0
        try:
            async with await self.hook.get_async_conn() as client:
                while True:
                    attempt += 1
                    result = await self.check(client)
                    if result is not None:
                        yield TriggerEvent({"status": "success", **result})
                        return
                    if time.time() >= self.deadline:
                        yield TriggerEvent({"status": "timeout", "attempts": attempt})
                        return
                    self.log.info(
                        "Condition not met (attempt %s); next check in %ss",
                        attempt,
                        self.poke_interval,
                    )
                    await asyncio.sleep(self.poke_interval)
        except Exception as exc:
            yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})


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

    async def check(self, client: Any) -> dict | None:
        request = describe_alarms_request(self.alarm_names, self.alarm_name_prefix)
        alarms: list[dict] = []
        async for page in client.get_paginator("describe_alarms").paginate(**request):
            alarms.extend(page.get("MetricAlarms", []))
        states = conditions.states_of(alarms)
        self.log.info("Alarms: %s", conditions.describe_states(states))
        return conditions.states_matching(
            states, target_state=self.target_state, require_all=self.require_all
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

    async def check(self, client: Any) -> dict | None:
        condition = dict(self.condition)
        queries = condition.pop("queries")
        start, end = conditions.metric_window(
            condition["period"], condition["evaluation_periods"], condition.pop("now", None)
        )
        data: dict[str, list] = {}
        paginator = client.get_paginator("get_metric_data")
        for request in get_metric_data_requests(queries, start, end):
            async for page in paginator.paginate(**request):
                add_metric_results(data, page)
        result = conditions.metric_evaluation(oldest_first(data), start, **condition)
        if result.state == conditions.ALARM:
            return {"reason": result.reason, "values": result.values}
        return None
