"""Application Auto Scaling as AWS behaves: deregistering a scalable target deletes its scaling
policies and scheduled actions (moto kept them), and a scaling policy for a target that is
not registered is refused (``ObjectNotFoundException``).
"""

from __future__ import annotations

from typing import Any

from image_mlops_dev.emulator.moto_patches import original, patch


def apply() -> None:
    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
    from moto.core.exceptions import JsonRESTError

    original_deregister = original(ApplicationAutoscalingBackend, "deregister_scalable_target")
    original_put_policy = original(ApplicationAutoscalingBackend, "put_scaling_policy")

    def deregister_scalable_target(self: Any, namespace: str, r_id: str, dimension: str) -> None:
        original_deregister(self, namespace, r_id, dimension)

        def of_target(item: Any) -> bool:
            return (item.service_namespace, item.resource_id, item.scalable_dimension) == (
                namespace,
                r_id,
                dimension,
            )

        self.policies = {k: p for k, p in self.policies.items() if not of_target(p)}
        self.scheduled_actions = [a for a in self.scheduled_actions if not of_target(a)]

    def put_scaling_policy(
        self: Any,
        policy_name: str,
        service_namespace: str,
        resource_id: str,
        scalable_dimension: str,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if resource_id not in self.targets.get(scalable_dimension, {}):
            raise JsonRESTError(
                "ObjectNotFoundException",
                f"No scalable target registered for service namespace: {service_namespace}, "
                f"resource ID: {resource_id}, scalable dimension: {scalable_dimension}",
            )
        return original_put_policy(
            self, policy_name, service_namespace, resource_id, scalable_dimension, *args, **kwargs
        )

    patch(ApplicationAutoscalingBackend, "deregister_scalable_target", deregister_scalable_target)
    patch(ApplicationAutoscalingBackend, "put_scaling_policy", put_scaling_policy)
