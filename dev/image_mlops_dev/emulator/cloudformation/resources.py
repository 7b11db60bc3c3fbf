"""CloudFormation resources as AWS creates them, where moto left something out.

* ``AWS::S3::Bucket``: moto applied only ``BucketEncryption`` (its first rule, without
  ``BucketKeyEnabled``) and ``Tags``; the whole ``BucketEncryption`` rule (``GetBucketEncryption``
  answers ``aws:kms`` with ``BucketKeyEnabled: true``, and objects written without an
  encryption header are SSE-KMS with the bucket key, as ``infra/image-mlops.yaml`` asks),
  ``VersioningConfiguration``, ``PublicAccessBlockConfiguration``, ``OwnershipControls`` and
  ``LifecycleConfiguration`` take effect too, as on AWS;
* a ``CommaDelimitedList`` parameter left at its default is a list (moto split only given ones);
* ``AWS::IAM::Role``: its ``ManagedPolicyArns`` are attached (and detached when the stack
  deletes it);
* ``AWS::StepFunctions::StateMachine`` gets its ``DefinitionSubstitutions`` and is made where
  the Step Functions API reads (moto did neither);
* ``AWS::KMS::Key``: its ``KeyPolicy`` (an object in the template) is kept as the JSON text
  ``GetKeyPolicy`` answers, as KMS keeps it (moto kept the object, and its ``DescribeKey``
  then failed on it).
"""

from __future__ import annotations

from typing import Any

from image_mlops_dev.emulator.moto_patches import original, original_classmethod, patch


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


def cfn_encryption_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation ``ServerSideEncryptionRule`` as moto keeps a bucket's encryption (the
    form of a parsed ``PutBucketEncryption`` body): the default and ``BucketKeyEnabled``."""
    default = {
        name: value
        for name, value in (rule.get("ServerSideEncryptionByDefault") or {}).items()
        if name in ("SSEAlgorithm", "KMSMasterKeyID")
    }
    api: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
    if "BucketKeyEnabled" in rule:
        api["BucketKeyEnabled"] = str(rule["BucketKeyEnabled"]).lower()
    return {"Rule": api}


def _after_cloudformation_create(model: Any, then: Any) -> None:
    """``model``'s CloudFormation creation (moto's), followed by
    ``then(resource, properties, account_id, region_name)``: what moto left out of it."""
    create = original_classmethod(model, "create_from_cloudformation_json")

    def create_from_cloudformation_json(
        cls: Any,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Any:
        resource = create(
            cls, resource_name, cloudformation_json, account_id, region_name, **kwargs
        )
        then(resource, cloudformation_json.get("Properties", {}), account_id, region_name)
        return resource

    patch(model, "create_from_cloudformation_json", classmethod(create_from_cloudformation_json))


def _apply_cloudformation_buckets() -> None:
    from moto.s3.models import FakeBucket, s3_backends
    from moto.utilities.utils import get_partition

    def configure(bucket: Any, properties: dict, account_id: str, region_name: str) -> None:
        backend = s3_backends[account_id][get_partition(region_name)]
        encryption = (properties.get("BucketEncryption") or {}).get(
            "ServerSideEncryptionConfiguration"
        )
        if encryption:
            backend.put_bucket_encryption(bucket.name, cfn_encryption_rule(encryption[0]))
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

    load = original(ResourceMap, "load_parameters")

    def load_parameters(self: Any) -> None:
        load(self)
        for name, slot in self._template.get("Parameters", {}).items():
            kind, value = slot.get("Type", "String"), self.resolved_parameters.get(name)
            listed = kind == "CommaDelimitedList" or kind.startswith("List<")
            if listed and isinstance(value, str):
                self.resolved_parameters[name] = value.split(",")
                self._parsed_resources[name] = self.resolved_parameters[name]

    patch(ResourceMap, "load_parameters", load_parameters)


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

    patch(
        StateMachine,
        "create_from_cloudformation_json",
        classmethod(create_from_cloudformation_json),
    )


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
    original_delete = original_classmethod(Role, "delete_from_cloudformation_json")

    def delete_from_cloudformation_json(
        cls: Any, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend = iam_backends[account_id][get_partition(region_name)]
        for role in list(backend.roles.values()):
            if role.name == resource_name:
                for arn in list(role.managed_policies):
                    backend.detach_role_policy(arn, role.name)
        original_delete(cls, resource_name, cloudformation_json, account_id, region_name)

    patch(Role, "delete_from_cloudformation_json", classmethod(delete_from_cloudformation_json))


def _apply_cloudformation_keys() -> None:
    import json

    from moto.kms.models import Key

    def policy_as_text(key: Any, properties: dict, account_id: str, region_name: str) -> None:
        if not isinstance(key.policy, str):
            key.policy = json.dumps(key.policy)

    _after_cloudformation_create(Key, policy_as_text)


def apply() -> None:
    _apply_cloudformation_buckets()
    _apply_cloudformation_keys()
    _apply_cloudformation_list_defaults()
    _apply_cloudformation_state_machines()
    _apply_cloudformation_roles()
