"""CloudWatchMetricSensor and CloudWatchAlarmSensor, deferrable, in the provider's shape.

Usage::

    CloudWatchAlarmSensor(
        task_id="wait_for_drift",
        alarm_name_prefix="image-mlops-product-image-classifier-",
        target_state="ALARM",
        poke_interval=60,
        timeout=600,
        soft_fail=True,          # a quiet period is a skip, not a failure
    )
    CloudWatchMetricSensor(
        task_id="recall_drop",
        namespace="ImageMLOps",
        metric_name="Recall",
        dimensions={"Model": "product-image-classifier", "Class": "mug"},
        statistic="Minimum",
        comparison_operator="<",
        threshold=0.8,
        period=3600,
        evaluation_periods=3,
        datapoints_to_alarm=2,
    )
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.base_aws import AwsBaseSensor
from airflow.providers.amazon.aws.utils.mixins import aws_template_fields
from airflow.providers.common.compat.sdk import AirflowException, AirflowSkipException, conf

from image_mlops.cloudwatch.conditions import alarms_matching
from image_mlops.cloudwatch.hooks import CloudWatchMetricsHook
from image_mlops.cloudwatch.triggers import CloudWatchAlarmTrigger, CloudWatchMetricTrigger

if TYPE_CHECKING:
    from airflow.sdk import Context


class _DeferrableCloudWatchSensor(AwsBaseSensor[CloudWatchMetricsHook]):
    aws_hook_class = CloudWatchMetricsHook

    #: Templated overrides of ``poke_interval`` / ``timeout`` (seconds) for the deferred wait,
    #: so a DAG Param can set them per run (BaseSensorOperator validates those two at parse time).
    check_interval: Any = None
    max_wait: Any = None

    def _interval(self) -> float:
        return float(
            self.check_interval if self.check_interval not in (None, "") else self.poke_interval
        )

    def _max_wait(self) -> float:
        return float(self.max_wait if self.max_wait not in (None, "") else self.timeout)

    def _trigger_kwargs(self) -> dict[str, Any]:
        return {
            "poke_interval": self._interval(),
            "deadline": time.time() + self._max_wait(),
            "aws_conn_id": self.aws_conn_id,
            "region_name": self.region_name,
        }

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        event = event or {}
        status = event.get("status")
        if status == "success":
            self.log.info("Condition met: %s", {k: v for k, v in event.items() if k != "status"})
            return {k: v for k, v in event.items() if k != "status"}
        if status == "timeout":
            message = f"{self.task_id}: condition not met within {self._max_wait():g}s"
            if self.soft_fail:
                raise AirflowSkipException(message)
            raise AirflowException(message)
        raise AirflowException(f"{self.task_id}: trigger failed: {event}")


class CloudWatchAlarmSensor(_DeferrableCloudWatchSensor):
    """Wait until CloudWatch alarms (by names or name prefix) are in ``target_state``.

    :param alarm_names: alarm names to watch (templated)
    :param alarm_name_prefix: or every alarm whose name starts with this (templated)
    :param target_state: ``ALARM`` (default), ``OK`` or ``INSUFFICIENT_DATA``
    :param require_all: all selected alarms must be in the state (default: any one)
    :param check_interval: templated poke interval of the deferred wait (default poke_interval)
    :param max_wait: templated seconds before giving up (default timeout); then skip with
        ``soft_fail`` or fail
    :param deferrable: wait in the triggerer (default from ``[operators] default_deferrable``)
    """

    template_fields: Sequence[str] = aws_template_fields(
        "alarm_names", "alarm_name_prefix", "target_state", "check_interval", "max_wait"
    )
    ui_color = "#ff9900"

    def __init__(
        self,
        *,
        alarm_names: Sequence[str] | None = None,
        alarm_name_prefix: str | None = None,
        target_state: str = "ALARM",
        require_all: bool = False,
        check_interval: Any = None,
        max_wait: Any = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.alarm_names = alarm_names
        self.alarm_name_prefix = alarm_name_prefix
        self.target_state = target_state
        self.require_all = require_all
        self.check_interval = check_interval
        self.max_wait = max_wait
        self.deferrable = deferrable

    def _check_args(self) -> None:
        if not self.alarm_names and not self.alarm_name_prefix:
            raise AirflowException("CloudWatchAlarmSensor needs alarm_names or alarm_name_prefix")

    def _match(self) -> dict | None:
        return alarms_matching(
            self.hook,
            alarm_names=list(self.alarm_names) if self.alarm_names else None,
            alarm_name_prefix=self.alarm_name_prefix,
            target_state=self.target_state,
            require_all=self.require_all,
        )

    def execute(self, context: Context) -> Any:
        self._check_args()
        if not self.deferrable:
            super().execute(context)
            return self._last_match
        match = self._match()  # no need to defer when the alarm already fires
        if match is not None:
            return match
        self.defer(
            trigger=CloudWatchAlarmTrigger(
                alarm_names=list(self.alarm_names) if self.alarm_names else None,
                alarm_name_prefix=self.alarm_name_prefix,
                target_state=self.target_state,
                require_all=self.require_all,
                **self._trigger_kwargs(),
            ),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=self._max_wait() + 60),
        )

    _last_match: dict | None = None

    def poke(self, context: Context) -> bool:
        self._last_match = self._match()
        return self._last_match is not None


class CloudWatchMetricSensor(_DeferrableCloudWatchSensor):
    """Wait until a metric (or a metric-math ``expression``) breaches a threshold.

    Fetches the last ``evaluation_periods`` periods with GetMetricData and succeeds when at
    least ``datapoints_to_alarm`` of them compare true with ``threshold`` — the same rule as
    an alarm, with the same ``treat_missing_data`` options.

    :param namespace, metric_name, dimensions, statistic: the metric (templated)
    :param expression: a metric-math expression over ``metric_queries`` instead (templated)
    :param metric_queries: extra ``MetricDataQueries`` (ReturnData False) the expression uses
    :param comparison_operator: ``<``, ``<=``, ``>``, ``>=`` or the CloudWatch names
    """

    template_fields: Sequence[str] = aws_template_fields(
        "namespace",
        "metric_name",
        "dimensions",
        "expression",
        "threshold",
        "check_interval",
        "max_wait",
    )
    ui_color = "#ff9900"

    def __init__(
        self,
        *,
        namespace: str | None = None,
        metric_name: str | None = None,
        dimensions: dict[str, str] | None = None,
        statistic: str = "Average",
        expression: str | None = None,
        metric_queries: Sequence[dict] | None = None,
        comparison_operator: str = ">=",
        threshold: float,
        period: int = 300,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
        treat_missing_data: str = "missing",
        check_interval: Any = None,
        max_wait: Any = None,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.namespace = namespace
        self.metric_name = metric_name
        self.dimensions = dimensions
        self.statistic = statistic
        self.expression = expression
        self.metric_queries = metric_queries
        self.comparison_operator = comparison_operator
        self.threshold = threshold
        self.period = period
        self.evaluation_periods = evaluation_periods
        self.datapoints_to_alarm = datapoints_to_alarm
        self.treat_missing_data = treat_missing_data
        self.check_interval = check_interval
        self.max_wait = max_wait
        self.deferrable = deferrable

    def condition(self) -> dict[str, Any]:
        """The arguments of ``conditions.metric_condition`` (JSON-serialisable)."""
        if self.expression:
            queries = [dict(q, ReturnData=False) for q in (self.metric_queries or [])]
            queries.append(
                {"Id": "result", "Expression": self.expression, "Period": int(self.period)}
            )
        elif self.namespace and self.metric_name:
            queries = [
                {
                    "Id": "result",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": self.namespace,
                            "MetricName": self.metric_name,
                            "Dimensions": [
                                {"Name": k, "Value": v} for k, v in (self.dimensions or {}).items()
                            ],
                        },
                        "Period": int(self.period),
                        "Stat": self.statistic,
                    },
                }
            ]
        else:
            raise AirflowException(
                "CloudWatchMetricSensor needs namespace+metric_name or expression"
            )
        return {
            "queries": queries,
            "value_id": "result",
            "comparison_operator": self.comparison_operator,
            "threshold": float(self.threshold),
            "period": int(self.period),
            "evaluation_periods": int(self.evaluation_periods),
            "datapoints_to_alarm": self.datapoints_to_alarm,
            "treat_missing_data": self.treat_missing_data,
        }

    def _evaluate(self):
        from image_mlops.cloudwatch.conditions import metric_condition

        result = metric_condition(self.hook, **self.condition())
        self.log.info("Metric condition: %s (%s)", result.state, result.reason)
        return result

    def execute(self, context: Context) -> Any:
        condition = self.condition()  # validates the arguments
        if not self.deferrable:
            super().execute(context)
            return None
        from image_mlops.cloudwatch.conditions import ALARM

        if self._evaluate().state == ALARM:
            return None
        self.defer(
            trigger=CloudWatchMetricTrigger(condition=condition, **self._trigger_kwargs()),
            method_name="execute_complete",
            timeout=dt.timedelta(seconds=self._max_wait() + 60),
        )

    def poke(self, context: Context) -> bool:
        from image_mlops.cloudwatch.conditions import ALARM

        return self._evaluate().state == ALARM
