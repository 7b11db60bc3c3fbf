"""The wait of deploy_model: an endpoint's creation or update, its steps in the history."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.amazon.aws.sensors.sagemaker import SageMakerEndpointSensor

if TYPE_CHECKING:
    from airflow.sdk import Context


class EndpointDeploymentSensor(SageMakerEndpointSensor):
    """:class:`SageMakerEndpointSensor` that writes what each poke sees to the history.

    Every poke's ``DescribeEndpoint`` answer adds its steps (the traffic-shifting statuses of
    ``PendingDeploymentSummary`` — ``Creating``, ``ActivatingTraffic``, ``Baking`` with the
    step's share of traffic — then ``InService``, ``RolledBack`` or ``Failed``) to the
    ``deployments`` record of this run and ``stage``, each once. Steps shorter than
    ``poke_interval`` may be missed; their end is not.

    :param stage: ``staging`` or ``production`` (the record the steps belong to).
    """

    template_fields: Sequence[str] = (*SageMakerEndpointSensor.template_fields, "stage")

    def __init__(self, *, stage: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stage = stage
        self.run_id: str | None = None

    def poke(self, context: Context) -> bool:
        self.run_id = context["run_id"]
        return super().poke(context)

    def get_sagemaker_response(self) -> dict:
        from image_mlops.config import get_settings
        from image_mlops.deployment import endpoints, history

        response = super().get_sagemaker_response()
        settings = get_settings()
        for step in endpoints.deployment_steps(response):
            if history.add_step(settings, self.run_id, self.stage, **step):
                self.log.info("%s: %s %s", self.endpoint_name, step["status"], step["message"])
        return response
