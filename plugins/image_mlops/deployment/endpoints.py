"""SageMaker models, endpoint configurations and endpoints: create-or-update, verify, roll back.

Names are deterministic, so re-running or clearing a task reuses what exists:

* model:  ``<group>-v<version>-<hash8>`` (hash of artifact URL, image and package ARN);
* config: ``<group>-<stage>-v<version>-<hash8>`` (hash also covers the instance type);
* endpoint: ``settings.endpoint_name(stage)`` (``<group>-staging`` / ``<group>-production``).

The model's container Environment carries the package ARN and version, so what an endpoint
serves is readable from ``DescribeModel`` (:func:`serving_model`, :func:`production_model`).
Updates are in-place blue/green ``UpdateEndpoint`` calls (SageMaker deployment guardrails):
traffic shifts all at once, as a canary or linearly (:func:`traffic_routing`, per stage), and
the auto-rollback watches the endpoint's CloudWatch alarms during every step; since a
rolled-back update also ends ``InService``, callers verify the configuration with
:func:`verify_serving`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from image_mlops.aws import aws_client, waiter_config
from image_mlops.config import Settings
from image_mlops.deployment import scaling
from image_mlops.registry import ModelPackage
from image_mlops.serving.container import (
    CONTAINER_ENVIRONMENT,
    ENV_PACKAGE_ARN,
    ENV_PACKAGE_VERSION,
)
from image_mlops.serving.integrity import ApprovedArtifact

log = logging.getLogger(__name__)
VARIANT = "AllTraffic"
#: Alarm kinds watched by the blue/green auto-rollback (AWS/SageMaker endpoint metrics).
ROLLBACK_ALARMS = {
    "invocation-5xx": ("Invocation5XXErrors", "Sum", 1.0),
    "model-latency": ("ModelLatency", "Average", 5_000_000.0),  # microseconds
}


class DeploymentError(RuntimeError):
    """The endpoint does not serve what we deployed (message says why and what to do)."""


@dataclass(frozen=True)
class ServingModel:
    endpoint_name: str
    endpoint_config_name: str
    model_name: str
    model_data_url: str
    package_arn: str | None
    package_version: int | None
    #: the model's container environment: package ARN/version, approved sha256 and version id
    environment: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:8]


def model_name_for(
    settings: Settings, candidate: ModelPackage, approved: ApprovedArtifact | None = None
) -> str:
    digest = _hash(
        candidate.arn,
        candidate.artifact_uri,
        image_uri_for(settings, candidate),
        *(approved.environment().values() if approved else ()),
    )
    return f"{settings.model_name}-v{candidate.version}-{digest}"[:63]


def endpoint_config_name_for(
    settings: Settings,
    candidate: ModelPackage,
    stage: str,
    approved: ApprovedArtifact | None = None,
) -> str:
    digest = _hash(
        model_name_for(settings, candidate, approved),
        settings.inference_instance_type,
        str(settings.instance_count(stage)),
        json.dumps(data_capture_config(settings), sort_keys=True),
    )
    return f"{settings.model_name}-{stage}-v{candidate.version}-{digest}"[:63]


def image_uri_for(settings: Settings, candidate: ModelPackage) -> str:
    """The package's inference image, else the framework's serving image in the region."""
    if candidate.image_uri:
        return candidate.image_uri
    from image_mlops.training.job import image_uri

    return image_uri(settings, "inference")


def alarm_names(endpoint_name: str) -> list[str]:
    """CloudWatch alarms whose ALARM state rolls back an update of ``endpoint_name``.

    ``image-mlops-deploy-…``: the model's drift alarms are ``image-mlops-<model>-…`` and the
    endpoints are ``<model>-staging|production``, so without the ``deploy`` segment the
    drift sensor's prefix would also match these (a 5xx alarm would start a retraining).
    """
    return [f"image-mlops-deploy-{endpoint_name}-{kind}" for kind in ROLLBACK_ALARMS]


def _exists(call, **kwargs) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        return call(**kwargs)
    except ClientError as exc:
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if exc.response.get("Error", {}).get("Code") in (
            "ValidationException",
            "ResourceNotFound",
            "ResourceNotFoundException",
        ) and ("not found" in message.lower() or "could not find" in message.lower()):
            return None
        raise


def ensure_model(
    settings: Settings, candidate: ModelPackage, approved: ApprovedArtifact | None = None
) -> str:
    """Create the SageMaker model of ``candidate`` unless it exists; returns its name.

    ``approved`` (the verified artifact) goes into the model's environment, so whatever
    loads the model later checks the bytes against it.
    """
    sagemaker = aws_client("sagemaker", settings)
    name = model_name_for(settings, candidate, approved)
    if _exists(sagemaker.describe_model, ModelName=name) is None:
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=settings.sagemaker_role_arn,
            PrimaryContainer={
                "Image": image_uri_for(settings, candidate),
                "ModelDataUrl": candidate.artifact_uri,
                "Environment": {
                    ENV_PACKAGE_ARN: candidate.arn,
                    ENV_PACKAGE_VERSION: str(candidate.version),
                    **CONTAINER_ENVIRONMENT,
                    "SAGEMAKER_REGION": settings.region,
                    **(approved.environment() if approved else {}),
                },
            },
            Tags=[
                {"Key": "image-mlops:model-package-arn", "Value": candidate.arn},
                {"Key": "image-mlops:model-package-version", "Value": str(candidate.version)},
            ],
        )
    return name


def data_capture_config(settings: Settings) -> dict[str, Any] | None:
    """SageMaker data capture of requests and responses (None when
    ``IMAGE_MLOPS_DATA_CAPTURE_PERCENT`` is 0)."""
    if settings.data_capture_percent <= 0:
        return None
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": settings.data_capture_percent,
        "DestinationS3Uri": settings.data_capture_uri,
        # no CaptureContentTypeHeader: every body is captured base64-encoded, as images are
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    }


def ensure_endpoint_config(
    settings: Settings,
    candidate: ModelPackage,
    stage: str,
    approved: ApprovedArtifact | None = None,
) -> str:
    """Create the endpoint configuration for ``candidate`` on ``stage`` unless it exists."""
    sagemaker = aws_client("sagemaker", settings)
    model_name = ensure_model(settings, candidate, approved)
    name = endpoint_config_name_for(settings, candidate, stage, approved)
    if _exists(sagemaker.describe_endpoint_config, EndpointConfigName=name) is None:
        capture = data_capture_config(settings)
        sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            **({"DataCaptureConfig": capture} if capture else {}),
            ProductionVariants=[
                {
                    "VariantName": VARIANT,
                    "ModelName": model_name,
                    "InitialInstanceCount": settings.instance_count(stage),
                    "InstanceType": settings.inference_instance_type,
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
    return name


def ensure_rollback_alarms(settings: Settings, endpoint_name: str) -> list[str]:
    """Put (idempotently) the endpoint's error and latency alarms; returns their names."""
    cloudwatch = aws_client("cloudwatch", settings)
    names = alarm_names(endpoint_name)
    for name, (metric, statistic, threshold) in zip(names, ROLLBACK_ALARMS.values(), strict=True):
        cloudwatch.put_metric_alarm(
            AlarmName=name,
            AlarmDescription=f"Rolls back a deployment to {endpoint_name} ({metric}).",
            Namespace="AWS/SageMaker",
            MetricName=metric,
            Dimensions=[
                {"Name": "EndpointName", "Value": endpoint_name},
                {"Name": "VariantName", "Value": VARIANT},
            ],
            Statistic=statistic,
            Period=60,
            EvaluationPeriods=1,
            Threshold=threshold,
            ComparisonOperator="GreaterThanOrEqualToThreshold",
            TreatMissingData="notBreaching",
        )
    return names


@dataclass(frozen=True)
class TrafficRouting:
    """How an update shifts traffic (SageMaker's ``TrafficRoutingConfiguration``), and why
    it is not what the settings ask, when it is not."""

    configuration: dict[str, Any]
    fallback_reason: str | None = None

    @property
    def kind(self) -> str:
        return self.configuration["Type"]


def traffic_routing(settings: Settings, stage: str) -> TrafficRouting:
    """The stage's ``IMAGE_MLOPS_<STAGE>_TRAFFIC_ROUTING`` as SageMaker's configuration.

    A canary or linear shift moves part of the new fleet's capacity first, so it needs two
    instances at least: with one, the update is all at once and the reason says so.
    """
    kind, instances = settings.traffic_routing(stage), settings.instance_count(stage)
    wait = settings.traffic_wait_seconds
    reason = None
    if kind != "all_at_once" and instances < 2:
        reason = (
            f"{kind} traffic shifting needs at least two instances in the new fleet and "
            f"IMAGE_MLOPS_{stage.upper()}_INSTANCE_COUNT is {instances}: updating "
            f"{settings.endpoint_name(stage)} all at once"
        )
        kind = "all_at_once"
    if kind == "canary":
        size = {"Type": "CAPACITY_PERCENT", "Value": settings.canary_percent}
        routing = {"Type": "CANARY", "CanarySize": size, "WaitIntervalInSeconds": wait}
    elif kind == "linear":
        size = {"Type": "CAPACITY_PERCENT", "Value": settings.linear_step_percent}
        routing = {"Type": "LINEAR", "LinearStepSize": size, "WaitIntervalInSeconds": wait}
    else:
        routing = {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": wait}
    return TrafficRouting(routing, reason)


def deployment_config(
    settings: Settings, alarms: list[str], routing: TrafficRouting
) -> dict[str, Any]:
    """Blue/green with ``routing``, auto-rollback on ``alarms``."""
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": routing.configuration,
            "TerminationWaitInSeconds": settings.termination_wait_seconds,
            "MaximumExecutionTimeoutInSeconds": settings.deployment_timeout_seconds,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": name} for name in alarms]},
    }


def describe_endpoint(settings: Settings, endpoint_name: str) -> dict | None:
    """``DescribeEndpoint``'s answer, None when there is no such endpoint."""
    return _exists(aws_client("sagemaker", settings).describe_endpoint, EndpointName=endpoint_name)


def switch_endpoint(settings: Settings, stage: str, config_name: str) -> dict:
    """Create the ``stage`` endpoint on ``config_name``, or update it in place (blue/green,
    traffic shifted as :func:`traffic_routing` says, rolled back by its alarms).

    Returns ``{"action": created|updated|unchanged|in_progress (a retry while this very
    creation or update goes on), "previous_config": name or None,
    "traffic_routing": CANARY|LINEAR|ALL_AT_ONCE or None, "routing_note": why not the
    setting, or None}``.
    """
    sagemaker = aws_client("sagemaker", settings)
    endpoint_name = settings.endpoint_name(stage)
    current = describe_endpoint(settings, endpoint_name)
    untouched = {"traffic_routing": None, "routing_note": None}
    if current is None:
        sagemaker.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=config_name)
        return {"action": "created", "previous_config": None, **untouched}
    previous, status = current["EndpointConfigName"], current["EndpointStatus"]
    if previous == config_name and status == "InService":
        return {"action": "unchanged", "previous_config": previous, **untouched}
    # A retry while our own creation or update is under way: nothing to start again.
    pending = (current.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    if (status == "Creating" and previous == config_name) or (
        status == "Updating" and pending == config_name
    ):
        return {"action": "in_progress", "previous_config": previous, **untouched}
    if status in ("Creating", "Updating", "SystemUpdating", "RollingBack"):
        raise DeploymentError(
            f"endpoint {endpoint_name} is {current['EndpointStatus']}: wait until it is "
            "InService, then clear this task"
        )
    _release_scaling_for_new_instance_type(settings, endpoint_name, previous)
    alarms = ensure_rollback_alarms(settings, endpoint_name)
    routing = traffic_routing(settings, stage)
    if routing.fallback_reason:
        log.warning("%s", routing.fallback_reason)
    sagemaker.update_endpoint(
        EndpointName=endpoint_name,
        EndpointConfigName=config_name,
        DeploymentConfig=deployment_config(settings, alarms, routing),
    )
    return {
        "action": "updated",
        "previous_config": previous,
        "traffic_routing": routing.kind,
        "routing_note": routing.fallback_reason,
    }


def deployment_steps(endpoint: dict[str, Any]) -> list[dict[str, Any]]:
    """The steps a ``DescribeEndpoint`` answer shows (``{"status", "message", "at"}``): the
    variant statuses of its ``PendingDeploymentSummary`` while it updates, and how it ended
    once it has."""

    def step(status: str, message: str, at: Any) -> dict[str, Any]:
        return {
            "status": status,
            "message": message,
            "at": at.isoformat() if hasattr(at, "isoformat") else at,
        }

    pending = endpoint.get("PendingDeploymentSummary") or {}
    steps = [
        step(status.get("Status"), status.get("StatusMessage") or "", status.get("StartTime"))
        for variant in pending.get("ProductionVariants") or []
        for status in variant.get("VariantStatus") or []
    ]
    if endpoint.get("EndpointStatus") in ("InService", "Failed"):
        reason = endpoint.get("FailureReason") or ""
        if endpoint["EndpointStatus"] == "Failed":
            status, message = "Failed", reason
        elif "rolled back" in reason.lower():
            status, message = "RolledBack", reason
        else:
            status, message = "InService", f"serving {endpoint['EndpointConfigName']}"
        steps.append(step(status, message, endpoint.get("LastModifiedTime")))
    return steps


def _release_scaling_for_new_instance_type(
    settings: Settings, endpoint_name: str, current_config: str
) -> None:
    """SageMaker refuses to change the instance type of a variant that is a scalable target:
    deregister it first (the check applies autoscaling again to the new fleet)."""
    config = aws_client("sagemaker", settings).describe_endpoint_config(
        EndpointConfigName=current_config
    )
    types = {v.get("InstanceType") for v in config["ProductionVariants"]}
    if types != {settings.inference_instance_type} and scaling.remove(settings, endpoint_name):
        log.info(
            "%s: autoscaling deregistered before changing the instance type to %s",
            endpoint_name,
            settings.inference_instance_type,
        )


def wait_for_endpoint(
    sagemaker: Any, endpoint_name: str, *, timeout: float, poll: float
) -> dict[str, Any]:
    """``DescribeEndpoint`` of ``endpoint_name`` once it is InService or Failed: botocore's
    ``endpoint_in_service`` waiter, checking every ``poll`` seconds for at most ``timeout``
    seconds (an update that rolls back ends InService too). :class:`DeploymentError` when
    the endpoint does not exist or is still changing at the end."""
    from botocore.exceptions import WaiterError

    waiter = sagemaker.get_waiter("endpoint_in_service")
    try:
        waiter.wait(
            EndpointName=endpoint_name,
            WaiterConfig=waiter_config(timeout, poll),
        )
    except WaiterError as exc:
        last = exc.last_response or {}
        if last.get("EndpointStatus") != "Failed":
            found = last.get("EndpointStatus") or last.get("Error", {}).get("Message", "")
            raise DeploymentError(
                f"endpoint {endpoint_name} is not InService after {timeout} s: {found}"
            ) from exc
    return sagemaker.describe_endpoint(EndpointName=endpoint_name)


def wait_in_service(
    settings: Settings,
    endpoint_name: str,
    timeout: float = 3600,
    poll: float | None = None,
) -> dict[str, Any]:
    """Wait until the endpoint is InService (for rollbacks inside a task), checking every
    ``poll`` seconds (default ``IMAGE_MLOPS_JOB_POLL_SECONDS``); returns its
    ``DescribeEndpoint``, or raises :class:`DeploymentError` (Failed, gone, or too slow)."""
    endpoint = wait_for_endpoint(
        aws_client("sagemaker", settings),
        endpoint_name,
        timeout=timeout,
        poll=poll or settings.job_poll_seconds,
    )
    if endpoint["EndpointStatus"] != "InService":
        raise DeploymentError(
            f"endpoint {endpoint_name} {endpoint['EndpointStatus']}: "
            f"{endpoint.get('FailureReason') or 'no reason given'}"
        )
    return endpoint


def verify_serving(settings: Settings, endpoint_name: str, config_name: str) -> dict[str, Any]:
    """Fail unless the endpoint is InService on ``config_name`` (a rollback also says InService)."""
    endpoint = describe_endpoint(settings, endpoint_name)
    if endpoint is None:
        raise DeploymentError(f"endpoint {endpoint_name} does not exist")
    if endpoint["EndpointStatus"] != "InService":
        raise DeploymentError(
            f"endpoint {endpoint_name} is {endpoint['EndpointStatus']}: "
            f"{endpoint.get('FailureReason') or 'no reason given'}"
        )
    if endpoint["EndpointConfigName"] != config_name:
        raise DeploymentError(
            f"endpoint {endpoint_name} serves {endpoint['EndpointConfigName']}, not {config_name}: "
            f"{endpoint.get('FailureReason') or 'the update did not take effect'}"
        )
    return endpoint


def serving_model(settings: Settings, endpoint_name: str) -> ServingModel | None:
    """What ``endpoint_name`` serves now (None when the endpoint does not exist): the one walk
    endpoint → configuration → model."""
    sagemaker = aws_client("sagemaker", settings)
    endpoint = describe_endpoint(settings, endpoint_name)
    if endpoint is None:
        return None
    config = sagemaker.describe_endpoint_config(EndpointConfigName=endpoint["EndpointConfigName"])
    model_name = config["ProductionVariants"][0]["ModelName"]
    model = sagemaker.describe_model(ModelName=model_name)
    container = model.get("PrimaryContainer") or {}
    env = container.get("Environment") or {}
    version = env.get(ENV_PACKAGE_VERSION)
    return ServingModel(
        endpoint_name=endpoint_name,
        endpoint_config_name=endpoint["EndpointConfigName"],
        model_name=model_name,
        model_data_url=container.get("ModelDataUrl", ""),
        package_arn=env.get(ENV_PACKAGE_ARN),
        package_version=int(version) if version and version.isdigit() else None,
        environment=dict(env),
    )


def production_model(settings: Settings) -> ServingModel | None:
    """The model the production endpoint serves, or None when there is none."""
    return serving_model(settings, settings.endpoint_name("production"))


def delete_endpoint(settings: Settings, endpoint_name: str) -> None:
    """Delete the endpoint and its autoscaling (gone already: nothing to do)."""
    import contextlib

    from botocore.exceptions import ClientError

    scaling.remove(settings, endpoint_name)
    with contextlib.suppress(ClientError):  # already gone
        aws_client("sagemaker", settings).delete_endpoint(EndpointName=endpoint_name)
