"""The steps of deploy_model, one function per task (the DAG only wires them).

``deploy(stage)`` re-reads the registry and refuses any package that is not ``Approved``, and
any whose artifact is not the registered bytes (outside its group's prefix, or another
sha256: :mod:`image_mlops.serving.integrity`) — before staging and again before production;
``check(stage)`` verifies the endpoint serves the new configuration, then smoke-tests it.
A failed staging check stops the run (production untouched); a failed production check
rolls the endpoint back to its previous configuration, verifies that the previous model
answers, and fails the run with the reason. Every step writes the deployments history.
"""

from __future__ import annotations

from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from image_mlops import notifications, registry
from image_mlops.aws import aws_client
from image_mlops.config import Settings
from image_mlops.deployment import approval, endpoints, history, scaling, smoke
from image_mlops.registry import APPROVED, ModelPackage
from image_mlops.serving import integrity


class DeploymentFailed(AirflowFailException):
    """A deployment check failed; retrying the task would not help (the reason says why)."""


class NotApproved(DeploymentFailed):
    """The registry does not say Approved: nothing is deployed."""


def resolve_candidate(settings: Settings, model_package: str | int | None) -> dict:
    """The package to deploy (Param value, or the newest pending/approved one) and its route."""
    if model_package in (None, "", 0, "0"):
        candidate = registry.newest_deployable(settings)
    else:
        candidate = registry.describe_package(settings, model_package)
    return {**candidate.summary(), "route": approval.route(candidate)}


def record_registry_decision(settings: Settings, candidate_arn: str, run_id: str):
    """The package was Rejected in the registry before this run: record it, deploy nothing."""
    candidate = registry.describe_package(settings, candidate_arn)
    return history.record(
        settings,
        run_id,
        "approval",
        package_arn=candidate.arn,
        package_version=candidate.version,
        outcome="rejected",
        finished=True,
        approver=candidate.approval_description or "registry",
        reason=f"package is {candidate.approval_status} in the model registry: nothing deployed",
    )


def require_approved(settings: Settings, candidate_arn: str) -> ModelPackage:
    """Re-read the registry; raise :class:`NotApproved` unless the package is Approved."""
    candidate = registry.describe_package(settings, candidate_arn)
    if candidate.approval_status != APPROVED:
        raise NotApproved(
            f"model package v{candidate.version} is {candidate.approval_status} in the registry, "
            "not Approved: refusing to deploy. Approve it (deploy_model approval or SageMaker "
            "Studio) and run deploy_model again."
        )
    return candidate


def verified_artifact(
    settings: Settings, candidate: ModelPackage, stage: str
) -> integrity.ApprovedArtifact:
    """The candidate's artifact, checked against what was registered (and so approved).

    The integrity alarm exists before anything can trip it.
    """
    import dataclasses

    from image_mlops.monitoring.alarms import ensure_integrity_alarm

    ensure_integrity_alarm(settings)
    approved = integrity.approved_artifact(candidate.artifact_uri, candidate.metadata, settings)
    version_id = integrity.verify(aws_client("s3", settings), approved, f"deploy {stage}", settings)
    return dataclasses.replace(approved, version_id=approved.version_id or version_id)


def deploy(
    settings: Settings,
    stage: str,
    candidate_arn: str,
    run_id: str,
    approver: str | None = None,
) -> dict[str, Any]:
    """Create the model and endpoint config, create or update ``<model>-<stage>``."""
    endpoint_name = settings.endpoint_name(stage)

    def refused(package: ModelPackage, exc: Exception) -> None:
        history.record(
            settings,
            run_id,
            stage,
            package_arn=package.arn,
            package_version=package.version,
            outcome="failed",
            finished=True,
            endpoint_name=endpoint_name,
            reason=str(exc),
        )

    try:
        candidate = require_approved(settings, candidate_arn)
    except NotApproved as exc:
        refused(registry.describe_package(settings, candidate_arn), exc)
        raise
    try:
        approved = verified_artifact(settings, candidate, stage)
    except integrity.ArtifactIntegrityError as exc:
        refused(candidate, exc)
        raise DeploymentFailed(str(exc)) from exc
    model_name = endpoints.ensure_model(settings, candidate, approved)
    config_name = endpoints.ensure_endpoint_config(settings, candidate, stage, approved)
    previous = history.for_run(settings, run_id)
    prior = next((r for r in previous if r["stage"] == stage), None)
    switch = endpoints.switch_endpoint(settings, stage, config_name)
    # On a re-run after the switch, the "previous" config is the one recorded the first time.
    previous_config = (prior or {}).get("previous_config_name") or switch["previous_config"]
    record = history.record(
        settings,
        run_id,
        stage,
        package_arn=candidate.arn,
        package_version=candidate.version,
        outcome="in_progress",
        endpoint_name=endpoint_name,
        endpoint_config_name=config_name,
        previous_config_name=previous_config,
        model_name=model_name,
        approver=approver or candidate.approval_description or "model registry",
        traffic_routing=switch["traffic_routing"],
    )
    if switch["routing_note"]:
        history.add_step(settings, run_id, stage, "AllAtOnce", switch["routing_note"])
    return {**record, "action": switch["action"]}


def check(settings: Settings, stage: str, deployment: dict[str, Any]) -> dict:
    """Verify the endpoint serves our config, then smoke-test it; roll back production."""
    endpoint_name = deployment["endpoint_name"]
    config_name = deployment["endpoint_config_name"]
    common = {
        "package_arn": deployment["package_arn"],
        "package_version": deployment["package_version"],
    }
    run_id = deployment["run_id"]
    try:
        endpoints.verify_serving(settings, endpoint_name, config_name)
    except endpoints.DeploymentError as exc:
        # AWS (or the emulator) already rolled back, or the update never took effect.
        reason = f"{stage} endpoint check failed: {exc}"
        if stage == "production":
            remove_autoscaling(settings, run_id, stage, endpoint_name)
            notify_rolled_back(settings, deployment, reason)
        history.record(
            settings,
            run_id,
            stage,
            outcome="rolled_back" if stage == "production" else "failed",
            finished=True,
            reason=reason,
            **common,
        )
        raise DeploymentFailed(reason) from exc
    candidate = registry.describe_package(settings, deployment["package_arn"])
    result = smoke.run_smoke_test(settings, endpoint_name, candidate.accuracy)
    metrics = {
        "smoke_samples": result.samples,
        "smoke_accuracy": result.accuracy,
        "smoke_errors": result.errors,
        "latency_p50_ms": result.latency_p50_ms,
        "latency_p95_ms": result.latency_p95_ms,
    }
    if result.passed:
        scaling_applied = scaling.apply(settings, endpoint_name) if stage == "production" else None
        if scaling_applied:
            history.add_step(
                settings,
                run_id,
                stage,
                "AutoScaling",
                f"{scaling_applied['min']}-{scaling_applied['max']} instances, target "
                f"{scaling_applied['target_invocations']} invocations per instance per minute",
            )
        record = history.record(
            settings, run_id, stage, outcome="succeeded", finished=True, **metrics, **common
        )
        if stage == "production":
            notifications.notify(
                settings,
                "deployed",
                f"{settings.model_name} v{deployment['package_version']} serves production",
                f"{endpoint_name} serves model package {deployment['package_arn']} "
                f"({config_name}). Smoke test: accuracy {result.accuracy:.3f} on "
                f"{result.samples} held-out images, p95 {result.latency_p95_ms:.1f} ms.",
                version=deployment["package_version"],
                run_id=run_id,
            )
        return {**record, "smoke": result.summary(), "autoscaling": scaling_applied}
    reason = f"{stage} smoke test failed: {result.reason}"
    if result.examples:
        reason += " (e.g. " + "; ".join(result.examples[:3]) + ")"
    notifications.notify(
        settings,
        "smoke_test_failed",
        f"{settings.model_name} v{deployment['package_version']} failed the {stage} smoke test",
        reason
        + (". Production is untouched." if stage == "staging" else ". It is being rolled back."),
        version=deployment["package_version"],
        stage=stage,
        run_id=run_id,
    )
    if stage == "staging":
        history.record(
            settings,
            run_id,
            stage,
            outcome="smoke_failed",
            finished=True,
            reason=reason,
            **metrics,
            **common,
        )
        raise DeploymentFailed(reason + ". Production is untouched.")
    remove_autoscaling(settings, run_id, stage, endpoint_name)
    rollback_note = rollback(settings, endpoint_name, deployment.get("previous_config_name"))
    notify_rolled_back(settings, deployment, f"{reason}. {rollback_note}")
    history.record(
        settings,
        run_id,
        stage,
        outcome="rolled_back",
        finished=True,
        reason=f"{reason}. {rollback_note}",
        **metrics,
        **common,
    )
    raise DeploymentFailed(f"{reason}. {rollback_note}")


def notify_rolled_back(settings: Settings, deployment: dict[str, Any], reason: str) -> None:
    notifications.notify(
        settings,
        "rolled_back",
        f"{settings.model_name} v{deployment['package_version']} rolled back from production",
        reason,
        version=deployment["package_version"],
        run_id=deployment["run_id"],
    )


def remove_autoscaling(settings: Settings, run_id: str, stage: str, endpoint_name: str) -> None:
    """A rolled-back endpoint loses its autoscaling (the next successful deployment applies
    it again); the history says so."""
    if scaling.remove(settings, endpoint_name):
        history.add_step(
            settings,
            run_id,
            stage,
            "AutoScalingRemoved",
            f"{endpoint_name} is no longer a scalable target (rollback)",
        )


def rollback(settings: Settings, endpoint_name: str, previous_config: str | None) -> str:
    """Put ``endpoint_name`` back on ``previous_config`` and check the previous model answers.

    With no previous configuration (first deployment) the endpoint is deleted: a model that
    failed its check must not serve.
    """
    from image_mlops.serving.runtime import get_runtime

    if not previous_config:
        endpoints.delete_endpoint(settings, endpoint_name)
        return f"No previous configuration: endpoint {endpoint_name} deleted."
    current = endpoints.describe_endpoint(settings, endpoint_name)
    if current and current["EndpointConfigName"] != previous_config:
        aws_client("sagemaker", settings).update_endpoint(
            EndpointName=endpoint_name, EndpointConfigName=previous_config
        )
    endpoints.wait_in_service(settings, endpoint_name)
    endpoints.verify_serving(settings, endpoint_name, previous_config)
    keys = smoke.labelled_sample(settings)[:3]
    if keys:
        from image_mlops.aws import s3_hook

        hook = s3_hook(settings)
        images = [hook.get_key(k, settings.validated_bucket).get()["Body"].read() for k in keys]
        predictions = get_runtime(settings).invoke_images(endpoint_name, images)
        failed = [p for p in predictions if p.get("error")]
        if failed:
            raise DeploymentFailed(
                f"rolled back {endpoint_name} to {previous_config} but the previous model "
                f"errs too: {failed[0]['error']} — investigate the endpoint now"
            )
    return f"Rolled back {endpoint_name} to {previous_config}; the previous model answers."
