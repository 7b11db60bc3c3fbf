"""What the local AWS emulator (moto) lacks and our DAGs need, added the way AWS behaves.

* SageMaker ``UpdateEndpoint``: switches an endpoint to a new endpoint configuration. As on
  AWS, a ``DeploymentConfig`` with ``AutoRollbackConfiguration.Alarms`` rolls the update back
  when one of those CloudWatch alarms is in ``ALARM``: the endpoint stays ``InService`` on its
  previous configuration — which is why callers must check the configuration, not the status.
  ``RetainAllVariantProperties``/``ExcludeRetainedVariantProperties`` are accepted. A canary
  (``CanarySize``) or linear step (``LinearStepSize``) under one instance or over half the
  new fleet (a linear step under a tenth) is a ``ValidationException``, as on AWS. The traffic
  shifting itself is the endpoints layer's (:mod:`image_mlops_dev.stack.emulator_endpoints`).
* SageMaker ``UpdateModelPackage``: as on AWS, properties the request leaves out stay as they
  were (moto replaced ``CustomerMetadataProperties`` and ``ApprovalDescription`` with nothing,
  so approving a package erased its lineage metadata); given properties are merged in.

* CloudWatch ``GetMetricData``: moto ignored the namespace of a ``MetricStat`` that has
  dimensions (metrics of the same name and dimensions in another namespace were mixed in);
  each query now sees only its own namespace, as on AWS (monitoring room). moto also walked
  the window one period at a time, scanning every datum in each: a 1 s period over two days
  was 173 000 scans per query (a minute and more for the demo's summary, which then timed
  out). The data points are now grouped by period in one pass, with moto's own statistics.

* S3 bucket policies: moto evaluates a bucket policy's statements but ignores their
  ``Condition`` (a ``Deny`` of ``s3:PutObject`` unless ``If-None-Match`` denied every PUT).
  Statements with a condition are left out of moto's evaluation; the emulator's S3 rules
  (:mod:`image_mlops_dev.stack.emulator_s3_rules`) evaluate the conditional-writes form.

* S3 version ids: moto draws a random id for every write to a versioned bucket, so a replayed
  journal would give each object version a new id, and an id recorded elsewhere (the
  approved artifact version in a SageMaker model's environment) would no longer resolve. The
  journal keeps the id each write was given; :func:`restore_version_id` gives it back.

* Application Auto Scaling: deregistering a scalable target deletes its scaling policies and
  scheduled actions, as on AWS (moto kept them), and a scaling policy for a target that is not
  registered is refused (``ObjectNotFoundException``), as on AWS.

* CloudFormation ``AWS::S3::Bucket``: moto applied only ``BucketEncryption`` and ``Tags``;
  ``VersioningConfiguration``, ``PublicAccessBlockConfiguration``, ``OwnershipControls`` and
  ``LifecycleConfiguration`` take effect too, as on AWS (``infra/image-mlops.yaml``); and a
  ``CommaDelimitedList`` parameter left at its default is a list (moto split only given ones);
  an ``AWS::IAM::Role``'s ``ManagedPolicyArns`` are attached (and detached when the stack
  deletes it); an
  ``AWS::StepFunctions::StateMachine`` gets its ``DefinitionSubstitutions`` and is made where
  the Step Functions API reads (moto did neither).

Applied once per emulator process by :func:`apply`, before the server takes requests.
"""

from __future__ import annotations

import json
from typing import Any

_applied = False
ROLLED_BACK_BY_ALARM = "Update rolled back: alarm(s)"


def unconditional_policy(policy: bytes | str) -> str | None:
    """The statements of a bucket policy that have no ``Condition`` (None if there are none)."""
    document = json.loads(policy)
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    kept = [s for s in statements if "Condition" not in s]
    return json.dumps({**document, "Statement": kept}) if kept else None


def restore_version_id(bucket_name: str, key_name: str, version_id: str) -> bool:
    """Give the newest version of ``key_name`` (an object or a delete marker) the id it had
    when the journaled request was first applied; ``False`` when there is no such key."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets.get(bucket_name)
    versions = bucket.keys.getlist(key_name, []) if bucket is not None else []
    if not versions:
        return False
    versions[-1]._version_id = version_id
    return True


def _bucket_permission(self: Any, action: str, resource: str) -> Any:
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = unconditional_policy(self.policy)
    if policy is None:
        return PermissionResult.NEUTRAL
    return IAMPolicy(policy).is_action_permitted(action, resource)


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
        firing = [name for name in alarms if _alarm_state(cloudwatch, name) == "ALARM"]
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

    from image_mlops_dev.stack.emulator_endpoints import instance_count, size_share

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


def _alarm_state(cloudwatch: Any, name: str) -> str | None:
    alarm = cloudwatch.alarms.get(name)
    return alarm.state_value if alarm is not None else None


class _NamespaceView:
    """A CloudWatch backend seen through one namespace (for moto's GetMetricData)."""

    def __init__(self, backend: Any, namespace: str) -> None:
        self._backend = backend
        self._namespace = namespace

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def get_all_metrics(self) -> list[Any]:
        return [md for md in self._backend.get_all_metrics() if md.namespace == self._namespace]


def _metric_stat(
    view: _NamespaceView, query: dict[str, Any], start_time: Any, end_time: Any, scan_by: str
) -> dict[str, Any]:
    """moto's result for one ``MetricStat`` query, in one pass over the data points.

    Same selection as moto (with dimensions: same name and dimensions; without: same
    namespace and name; then the unit), same periods (from ``start_time``, every
    ``Period`` seconds), same statistics (moto's ``Statistics``) and order.
    """
    from datetime import timedelta

    from moto.cloudwatch.models import Dimension, Statistics

    start_time, end_time = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
    stat_query = query["MetricStat"]
    metric = stat_query["Metric"]
    name, stat, unit = metric["MetricName"], stat_query["Stat"], stat_query.get("Unit")
    delta = timedelta(seconds=int(stat_query["Period"]))
    dimensions = sorted(
        Dimension(name=d["Name"], value=d["Value"]) for d in metric.get("Dimensions", [])
    )
    periods: dict[int, list[Any]] = {}
    for datum in view.get_all_metrics():
        if not start_time <= datum.timestamp < end_time or datum.name != name:
            continue
        if dimensions:
            if sorted(datum.dimensions) != dimensions:
                continue
        elif datum.namespace != metric["Namespace"]:
            continue
        if unit and datum.unit != unit:
            continue
        periods.setdefault((datum.timestamp - start_time) // delta, []).append(datum)
    values, timestamps = [], []
    for index in sorted(periods):
        stats = Statistics([stat], start_time + index * delta)
        stats.metric_data = periods[index]
        values.append(stats.get_statistics_for_type(stat))
        timestamps.append(stats.timestamp)
    if scan_by == "TimestampDescending":
        values.reverse()
        timestamps.reverse()
    return {
        "id": query["Id"],
        "label": query.get("Label") or f"{name} {stat}",
        "values": values,
        "timestamps": timestamps,
        "status_code": "Complete",
    }


def _namespaced_get_metric_data(original: Any) -> Any:
    def get_metric_data(
        self: Any,
        queries: list[dict[str, Any]],
        start_time: Any,
        end_time: Any,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        from moto.cloudwatch.metric_data_expression_parser import parse_expression

        if start_time.replace(microsecond=0) >= end_time.replace(microsecond=0):
            return original(self, [], start_time, end_time, scan_by)  # moto's validation
        stats: dict[str, dict[str, Any]] = {}
        for query in queries:
            if "MetricStat" in query:
                view = _NamespaceView(self, query["MetricStat"]["Metric"]["Namespace"])
                stats[query["Id"]] = _metric_stat(view, query, start_time, end_time, scan_by)
        returned: list[dict[str, Any]] = []
        for query in queries:
            if "MetricStat" in query:
                if query.get("ReturnData", True):
                    returned.append(stats[query["Id"]])
            elif query["Expression"].startswith("SELECT"):
                returned.extend(original(self, [query], start_time, end_time, scan_by))
            else:
                values, timestamps = parse_expression(query["Expression"], list(stats.values()))
                returned.append(
                    {
                        "id": query["Id"],
                        "label": query.get("Label") or query["Id"],
                        "values": values,
                        "timestamps": timestamps,
                        "status_code": "Complete",
                    }
                )
        return returned

    return get_metric_data


def cfn_lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation ``LifecycleConfiguration`` rule as the S3 API (and moto) has it."""
    api: dict[str, Any] = {"ID": rule.get("Id", ""), "Status": rule.get("Status", "Enabled")}
    prefix = rule.get("Prefix")
    api["Filter"] = {"Prefix": prefix or ""}
    if "ExpirationInDays" in rule:
        api["Expiration"] = {"Days": str(rule["ExpirationInDays"])}
    if "NoncurrentVersionExpiration" in rule:
        days = rule["NoncurrentVersionExpiration"].get("NoncurrentDays")
        api["NoncurrentVersionExpiration"] = {"NoncurrentDays": str(days)}
    if "AbortIncompleteMultipartUpload" in rule:
        days = rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"]
        api["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": str(days)}
    return api


def _after_cloudformation_create(model: Any, then: Any) -> None:
    """``model``'s CloudFormation creation (moto's), followed by
    ``then(resource, properties, account_id, region_name)``: what moto left out of it."""
    original = model.create_from_cloudformation_json.__func__

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        resource = original(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        then(resource, cloudformation_json.get("Properties", {}), account_id, region_name)
        return resource

    model.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def _apply_cloudformation_buckets() -> None:
    from moto.s3.models import FakeBucket, s3_backends
    from moto.utilities.utils import get_partition

    def configure(bucket: Any, properties: dict, account_id: str, region_name: str) -> None:
        backend = s3_backends[account_id][get_partition(region_name)]
        versioning = (properties.get("VersioningConfiguration") or {}).get("Status")
        if versioning:
            backend.put_bucket_versioning(bucket.name, versioning)
        if properties.get("PublicAccessBlockConfiguration"):
            backend.put_public_access_block(
                bucket.name, properties["PublicAccessBlockConfiguration"]
            )
        rules = (properties.get("OwnershipControls") or {}).get("Rules")
        if rules:
            backend.put_bucket_ownership_controls(bucket.name, rules[0]["ObjectOwnership"])
        lifecycle = (properties.get("LifecycleConfiguration") or {}).get("Rules")
        if lifecycle:
            backend.put_bucket_lifecycle_configuration(
                bucket.name, [cfn_lifecycle_rule(rule) for rule in lifecycle]
            )

    _after_cloudformation_create(FakeBucket, configure)


def _apply_cloudformation_list_defaults() -> None:
    """A ``CommaDelimitedList`` parameter left at its default is a list, as on AWS (moto split
    only the values given)."""
    from moto.cloudformation.parsing import ResourceMap

    original = ResourceMap.load_parameters

    def load_parameters(self: Any) -> None:
        original(self)
        for name, slot in self._template.get("Parameters", {}).items():
            kind, value = slot.get("Type", "String"), self.resolved_parameters.get(name)
            listed = kind == "CommaDelimitedList" or kind.startswith("List<")
            if listed and isinstance(value, str):
                self.resolved_parameters[name] = value.split(",")
                self._parsed_resources[name] = self.resolved_parameters[name]

    ResourceMap.load_parameters = load_parameters


def _apply_cloudformation_state_machines() -> None:
    """CloudFormation ``AWS::StepFunctions::StateMachine``: ``DefinitionSubstitutions`` are
    substituted, as on AWS, and the state machine is made in the backend the Step Functions
    API answers from (with executions on, moto's parser backend; moto made it in the other)."""
    from moto.stepfunctions.models import StateMachine
    from moto.stepfunctions.responses import get_backend
    from moto.stepfunctions.utils import cfn_to_api_tags

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        properties = cloudformation_json["Properties"]
        definition = properties.get("DefinitionString", "")
        for name, value in (properties.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + name + "}", str(value))
        return get_backend(account_id, region_name).create_state_machine(
            properties.get("StateMachineName", resource_name),
            definition,
            properties.get("RoleArn", ""),
            tags=cfn_to_api_tags(properties.get("Tags", [])),
        )

    StateMachine.create_from_cloudformation_json = classmethod(create_from_cloudformation_json)


def _apply_cloudformation_roles() -> None:
    """CloudFormation ``AWS::IAM::Role``: its ``ManagedPolicyArns`` are attached, as on AWS
    (moto made the role without them), and detached when the stack deletes it."""
    from moto.iam.models import Role, iam_backends
    from moto.utilities.utils import get_partition

    def attach(role: Any, properties: dict, account_id: str, region_name: str) -> None:
        backend = iam_backends[account_id][get_partition(region_name)]
        for arn in properties.get("ManagedPolicyArns", []):
            backend.attach_role_policy(arn, role.name)

    _after_cloudformation_create(Role, attach)
    original_delete = Role.delete_from_cloudformation_json.__func__

    def delete_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend = iam_backends[account_id][get_partition(region_name)]
        for role in list(backend.roles.values()):
            if role.name == resource_name:
                for arn in list(role.managed_policies):
                    backend.detach_role_policy(arn, role.name)
        original_delete(cls, resource_name, cloudformation_json, account_id, region_name)

    Role.delete_from_cloudformation_json = classmethod(delete_from_cloudformation_json)


def _apply_autoscaling() -> None:
    from moto.applicationautoscaling.models import ApplicationAutoscalingBackend
    from moto.core.exceptions import JsonRESTError

    original_deregister = ApplicationAutoscalingBackend.deregister_scalable_target
    original_put_policy = ApplicationAutoscalingBackend.put_scaling_policy

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

    ApplicationAutoscalingBackend.deregister_scalable_target = deregister_scalable_target
    ApplicationAutoscalingBackend.put_scaling_policy = put_scaling_policy


def apply() -> None:
    """Patch moto's SageMaker backend and response handler (idempotent)."""
    global _applied
    if _applied:
        return
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

    original_update_model_package = SageMakerModelBackend.update_model_package

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

    _apply_autoscaling()
    _apply_cloudformation_buckets()
    _apply_cloudformation_list_defaults()
    _apply_cloudformation_state_machines()
    _apply_cloudformation_roles()
    from moto.cloudwatch.models import CloudWatchBackend

    CloudWatchBackend.moto_get_metric_data = CloudWatchBackend.get_metric_data  # tests compare
    CloudWatchBackend.get_metric_data = _namespaced_get_metric_data(
        CloudWatchBackend.get_metric_data
    )
    from moto.s3.models import FakeBucket

    FakeBucket.get_permission = _bucket_permission
    SageMakerModelBackend.update_endpoint = update_endpoint_backend
    SageMakerModelBackend.update_model_package = update_model_package_backend
    SageMakerResponse.update_endpoint = update_endpoint_response
    _applied = True
