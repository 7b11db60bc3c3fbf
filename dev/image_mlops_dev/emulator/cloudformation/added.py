"""CloudFormation resource types moto's CloudFormation cannot create, added as AWS creates
them (AWS CloudFormation User Guide, resource type reference):

* ``AWS::S3::BucketPolicy`` (``Bucket``, ``PolicyDocument``): the bucket's policy is put, and
  deleted with the resource. ``Ref``: the bucket's name.
* ``AWS::SageMaker::ModelPackageGroup`` (``ModelPackageGroupName``,
  ``ModelPackageGroupDescription``, ``Tags``). ``Ref`` and ``ModelPackageGroupArn``: its ARN.
* ``AWS::SNS::Subscription`` (``TopicArn``, ``Protocol``, ``Endpoint``): an e-mail
  subscription waits for its confirmation (``PendingConfirmation``), as SNS's does; ``Ref``:
  the subscription's ARN.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from moto.core.common_models import CloudFormationModel

from image_mlops_dev.emulator.moto_patches import original


def _properties(cloudformation_json: dict[str, Any]) -> dict[str, Any]:
    return cloudformation_json.get("Properties", {})


class BucketPolicy(CloudFormationModel):
    def __init__(self, bucket: str, account_id: str) -> None:
        self.bucket, self.account_id = bucket, account_id

    def delete(self, account_id: str, region_name: str) -> None:
        """DeleteStack (moto deletes a created resource through its instance)."""
        from moto.s3.exceptions import MissingBucket

        with contextlib.suppress(MissingBucket):  # the bucket went first
            self._backend(account_id).delete_bucket_policy(self.bucket)

    @property
    def physical_resource_id(self) -> str:
        return self.bucket

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::S3::BucketPolicy"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @staticmethod
    def _backend(account_id: str) -> Any:
        from moto.s3.models import s3_backends

        return s3_backends[account_id]["aws"]

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> BucketPolicy:
        properties = _properties(cloudformation_json)
        document = properties["PolicyDocument"]
        text = document if isinstance(document, str) else json.dumps(document)
        cls._backend(account_id).put_bucket_policy(properties["Bucket"], text.encode())
        return cls(properties["Bucket"], account_id)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> BucketPolicy:
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        from moto.s3.exceptions import MissingBucket

        bucket = _properties(cloudformation_json).get("Bucket", resource_name)
        # the bucket went first (a retained bucket keeps its policy on AWS)
        with contextlib.suppress(MissingBucket):
            cls._backend(account_id).delete_bucket_policy(bucket)


class ModelPackageGroup(CloudFormationModel):
    def __init__(self, arn: str, name: str) -> None:
        self.arn, self.name = arn, name

    def delete(self, account_id: str, region_name: str) -> None:
        """DeleteStack (moto deletes a created resource through its instance)."""
        self._backend(account_id, region_name).model_package_groups.pop(self.name, None)

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return "ModelPackageGroupName"

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SageMaker::ModelPackageGroup"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return attr in ("ModelPackageGroupArn", "ModelPackageGroupStatus", "CreationTime")

    def get_cfn_attribute(self, attribute_name: str) -> str:
        if attribute_name == "ModelPackageGroupArn":
            return self.arn
        if attribute_name == "ModelPackageGroupStatus":
            return "Completed"
        from moto.cloudformation.exceptions import UnformattedGetAttTemplateException

        raise UnformattedGetAttTemplateException()

    @staticmethod
    def _backend(account_id: str, region_name: str) -> Any:
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[account_id][region_name]

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> ModelPackageGroup:
        properties = _properties(cloudformation_json)
        name = properties.get("ModelPackageGroupName") or resource_name
        arn = cls._backend(account_id, region_name).create_model_package_group(
            model_package_group_name=name,
            model_package_group_description=properties.get("ModelPackageGroupDescription", ""),
            tags=properties.get("Tags") or [],
        )
        return cls(arn, name)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> ModelPackageGroup:
        return original_resource  # the name needs replacement, the description is kept

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        name = _properties(cloudformation_json).get("ModelPackageGroupName") or resource_name
        cls._backend(account_id, region_name).model_package_groups.pop(
            name.rsplit("/", 1)[-1], None
        )


class Subscription(CloudFormationModel):
    def __init__(self, arn: str) -> None:
        self.arn = arn

    def delete(self, account_id: str, region_name: str) -> None:
        """DeleteStack (moto deletes a created resource through its instance)."""
        backend = self._backend(account_id, region_name)
        if self.arn in getattr(backend, "subscriptions", {}):
            backend.unsubscribe(self.arn)

    @property
    def physical_resource_id(self) -> str:
        return self.arn

    @staticmethod
    def cloudformation_name_type() -> str:
        return ""

    @staticmethod
    def cloudformation_type() -> str:
        return "AWS::SNS::Subscription"

    @classmethod
    def has_cfn_attr(cls, attr: str) -> bool:
        return False

    @staticmethod
    def _backend(account_id: str, region_name: str) -> Any:
        from moto.sns.models import sns_backends

        return sns_backends[account_id][region_name]

    @classmethod
    def create_from_cloudformation_json(  # type: ignore[override]
        cls,
        resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
        **kwargs: Any,
    ) -> Subscription:
        properties = _properties(cloudformation_json)
        protocol = properties["Protocol"]
        subscription = cls._backend(account_id, region_name).subscribe(
            properties["TopicArn"], properties["Endpoint"], protocol
        )
        if protocol in ("email", "email-json"):
            # SNS sends a confirmation message; nothing is delivered until it is confirmed
            subscription.confirmed = False
            subscription.attributes["PendingConfirmation"] = "true"
        return cls(subscription.arn)

    @classmethod
    def update_from_cloudformation_json(  # type: ignore[override]
        cls,
        original_resource: Any,
        new_resource_name: str,
        cloudformation_json: Any,
        account_id: str,
        region_name: str,
    ) -> Subscription:
        cls.delete_from_cloudformation_json(
            original_resource.arn, cloudformation_json, account_id, region_name
        )
        return cls.create_from_cloudformation_json(
            new_resource_name, cloudformation_json, account_id, region_name
        )

    @classmethod
    def delete_from_cloudformation_json(  # type: ignore[override]
        cls, resource_name: str, cloudformation_json: Any, account_id: str, region_name: str
    ) -> None:
        backend = cls._backend(account_id, region_name)
        if resource_name in getattr(backend, "subscriptions", {}):
            backend.unsubscribe(resource_name)


def apply() -> None:
    """moto lists CloudFormation's types once (cached): list them again with ours."""
    from moto.cloudformation import parsing

    for cached in ("get_model_list", "get_model_map", "get_name_type_map"):
        original(parsing, cached).cache_clear()
    missing = [
        kind
        for kind in (
            "AWS::S3::BucketPolicy",
            "AWS::SageMaker::ModelPackageGroup",
            "AWS::SNS::Subscription",
        )
        if parsing.get_model_map().get(kind) is None
    ]
    if missing:
        raise RuntimeError(f"moto's CloudFormation does not see {missing}")
