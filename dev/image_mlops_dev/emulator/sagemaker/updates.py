"""SageMaker calls moto lacks or answers otherwise than AWS.

* ``UpdateEndpoint``: switches an endpoint to a new endpoint configuration. As on AWS, a
  ``DeploymentConfig`` with ``AutoRollbackConfiguration.Alarms`` rolls the update back when
  one of those CloudWatch alarms is in ``ALARM``: the endpoint stays ``InService`` on its
  previous configuration — which is why callers must check the configuration, not the
  status. ``RetainAllVariantProperties``/``ExcludeRetainedVariantProperties`` are accepted. A
  canary (``CanarySize``) or linear step (``LinearStepSize``) under one instance or over half
  the new fleet (a linear step under a tenth) is a ``ValidationException``, as on AWS. The
  traffic shifting itself is the endpoints layer's
  (:mod:`image_mlops_dev.emulator.sagemaker.endpoints`).
* ``UpdateModelPackage``: as on AWS, properties the request leaves out stay as they were
  (moto replaced ``CustomerMetadataProperties`` and ``ApprovalDescription`` with nothing, so
  approving a package erased its lineage metadata); given properties are merged in.
"""

from __future__ import annotations

from typing import Any

from image_mlops_dev.emulator.moto_patches import add, original, patch
from image_mlops_dev.emulator.sagemaker.traffic import instance_count, size_share

ROLLED_BACK_BY_ALARM = "Update rolled back: alarm(s)"


def _update_endpoint(
    backend: Any,
    endpoint_name: str,
    endpoint_config_name: str,
    deployment_config: dict[str, Any] | None,
) -> Any:
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.core.utils import utcnow
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig

    endpoint = backend.endpoints.get(endpoint_name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(endpoint_name, backend.account_id, backend.region_name)
        raise ValidationError(message=f"Could not find endpoint '{arn}'.")
    config = backend.endpoint_configs.get(endpoint_config_name)
    if config is None:
        arn = FakeEndpointConfig.arn_formatter(
            endpoint_config_name, backend.account_id, backend.region_name
        )
        raise ValidationError(message=f"Could not find endpoint configuration '{arn}'.")
    if endpoint.endpoint_status not in ("InService", "Failed"):
        raise ValidationError(message=f"Cannot update in-progress endpoint '{endpoint.arn}'.")

    _check_traffic_routing(deployment_config, config.production_variants)
    endpoint.last_deployment_config = deployment_config or None
    endpoint.last_modified_time = utcnow()
    alarms = [
        alarm["AlarmName"]
        for alarm in ((deployment_config or {}).get("AutoRollbackConfiguration") or {}).get(
            "Alarms", []
        )
    ]
    if alarms:
        cloudwatch = cloudwatch_backends[backend.account_id][backend.region_name]
        firing = [name for name in alarms if alarm_state(cloudwatch, name) == "ALARM"]
        if firing:
            # AWS: the blue fleet keeps serving, the update is rolled back, status InService.
            endpoint.endpoint_status = "InService"
            endpoint.failure_reason = (
                f"{ROLLED_BACK_BY_ALARM} {', '.join(firing)} in ALARM during deployment."
            )
            return endpoint

    endpoint.endpoint_config_name = endpoint_config_name
    endpoint.production_variants = endpoint._process_production_variants(config.production_variants)
    endpoint.endpoint_status = "InService"
    endpoint.failure_reason = None
    return endpoint


def _check_traffic_routing(
    deployment_config: dict[str, Any] | None, variants: list[dict[str, Any]]
) -> None:
    """AWS refuses a canary or linear step under one instance or over half of the new fleet
    (and a linear step under a tenth of it)."""
    from moto.sagemaker.exceptions import ValidationError

    policy = (deployment_config or {}).get("BlueGreenUpdatePolicy") or {}
    routing = policy.get("TrafficRoutingConfiguration") or {}
    field = {"CANARY": "CanarySize", "LINEAR": "LinearStepSize"}.get(routing.get("Type"))
    if field is None:
        return
    instances = instance_count(variants)
    share = size_share(routing.get(field) or {}, instances)
    smallest = 0.1 if field == "LinearStepSize" else 0.0
    if share * instances < 1 or share > 0.5 or share < smallest:
        raise ValidationError(
            message=f"{field} {routing.get(field)} is {share * instances:g} of the new fleet's "
            f"{instances} instance(s): it must be at least one instance and at most 50% of "
            "the fleet" + (" (and at least 10%)" if smallest else "") + "."
        )


def alarm_state(cloudwatch: Any, name: str) -> str | None:
    alarm = cloudwatch.alarms.get(name)
    return alarm.state_value if alarm is not None else None


def apply() -> None:
    """Patch moto's SageMaker backend and response handler (idempotent)."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.models import SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    def update_endpoint_backend(
        self: SageMakerModelBackend,
        endpoint_name: str,
        endpoint_config_name: str,
        deployment_config: dict[str, Any] | None = None,
    ) -> Any:
        return _update_endpoint(self, endpoint_name, endpoint_config_name, deployment_config)

    def update_endpoint_response(self: SageMakerResponse) -> ActionResult:
        endpoint = self.sagemaker_backend.update_endpoint(
            endpoint_name=self._get_param("EndpointName"),
            endpoint_config_name=self._get_param("EndpointConfigName"),
            deployment_config=self._get_param("DeploymentConfig"),
        )
        return ActionResult({"EndpointArn": endpoint.arn})

    original_update_model_package = original(SageMakerModelBackend, "update_model_package")

    def update_model_package_backend(
        self: SageMakerModelBackend,
        model_package_arn: str,
        model_approval_status: str | None,
        approval_description: str | None,
        customer_metadata_properties: dict[str, str] | None,
        *args: Any,
        **kwargs: Any,
    ) -> str:
        name = self.model_package_name_mapping.get(model_package_arn, model_package_arn)
        package = self.model_packages.get(name)
        if package is not None:
            merged = dict(package.customer_metadata_properties or {})
            merged.update(customer_metadata_properties or {})
            customer_metadata_properties = merged or None
            if approval_description is None:
                approval_description = package.approval_description
        return original_update_model_package(
            self,
            model_package_arn,
            model_approval_status,
            approval_description,
            customer_metadata_properties,
            *args,
            **kwargs,
        )

    add(SageMakerModelBackend, "update_endpoint", update_endpoint_backend)
    add(SageMakerResponse, "update_endpoint", update_endpoint_response)
    patch(SageMakerModelBackend, "update_model_package", update_model_package_backend)
