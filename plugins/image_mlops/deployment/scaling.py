"""Autoscaling of the production variant (Application Auto Scaling, target tracking).

After a production deployment passes its check, :func:`apply` registers the variant as a
scalable target (``IMAGE_MLOPS_AUTOSCALING_MIN_INSTANCES`` ..
``IMAGE_MLOPS_AUTOSCALING_MAX_INSTANCES``) with one target-tracking policy on
``SageMakerVariantInvocationsPerInstance`` (``IMAGE_MLOPS_AUTOSCALING_TARGET_INVOCATIONS``
per instance per minute). A rollback and a deleted endpoint :func:`remove` it: deregistering
the target deletes its policies, and SageMaker refuses an update that changes the instance
type of a variant that is a scalable target.
"""

from __future__ import annotations

from typing import Any

from image_mlops.aws import aws_client
from image_mlops.config import Settings

NAMESPACE = "sagemaker"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
METRIC = "SageMakerVariantInvocationsPerInstance"


def resource_id(endpoint_name: str, variant: str = "AllTraffic") -> str:
    return f"endpoint/{endpoint_name}/variant/{variant}"


def policy_name(endpoint_name: str) -> str:
    return f"{endpoint_name}-invocations-per-instance"


def apply(settings: Settings, endpoint_name: str) -> dict[str, Any] | None:
    """Register (or update) the scalable target and its policy; returns what was applied
    (None when autoscaling is off: ``IMAGE_MLOPS_AUTOSCALING_MAX_INSTANCES`` is 0)."""
    if settings.autoscaling_max_instances <= 0:
        return None
    client = aws_client("application-autoscaling", settings)
    target = {
        "ServiceNamespace": NAMESPACE,
        "ResourceId": resource_id(endpoint_name),
        "ScalableDimension": DIMENSION,
    }
    client.register_scalable_target(
        **target,
        MinCapacity=settings.autoscaling_min_instances,
        MaxCapacity=settings.autoscaling_max_instances,
    )
    client.put_scaling_policy(
        PolicyName=policy_name(endpoint_name),
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": float(settings.autoscaling_target_invocations),
            "PredefinedMetricSpecification": {"PredefinedMetricType": METRIC},
            "ScaleInCooldown": 300,
            "ScaleOutCooldown": 60,
        },
        **target,
    )
    return {
        "resource_id": target["ResourceId"],
        "min": settings.autoscaling_min_instances,
        "max": settings.autoscaling_max_instances,
        "target_invocations": settings.autoscaling_target_invocations,
    }


def _targets(client: Any, endpoint_name: str) -> list[dict[str, Any]]:
    return client.describe_scalable_targets(
        ServiceNamespace=NAMESPACE, ResourceIds=[resource_id(endpoint_name)]
    )["ScalableTargets"]


def describe(settings: Settings, endpoint_name: str) -> dict[str, Any] | None:
    """The variant's scalable target and its policies, or None when it has none."""
    client = aws_client("application-autoscaling", settings)
    targets = _targets(client, endpoint_name)
    if not targets:
        return None
    policies = client.describe_scaling_policies(
        ServiceNamespace=NAMESPACE, ResourceId=resource_id(endpoint_name)
    )["ScalingPolicies"]
    return {**targets[0], "Policies": policies}


def remove(settings: Settings, endpoint_name: str) -> bool:
    """Deregister the variant's scalable target (its policies go with it); returns whether
    there was one."""
    client = aws_client("application-autoscaling", settings)
    if not _targets(client, endpoint_name):
        return False
    client.deregister_scalable_target(
        ServiceNamespace=NAMESPACE,
        ResourceId=resource_id(endpoint_name),
        ScalableDimension=DIMENSION,
    )
    return True
