"""infra/image-mlops.yaml deployed to the emulator's CloudFormation, whole, as a second
stack of its own names, by the deploying user (the bootstrap key).

What is deployed is checked as AWS would have it: buckets encrypted, versioned where the
template says, public access blocked, lifecycle rules, their policies; the roles and their
policies; the model package group; the Lambda and the state machine of the validation route;
the topic; no dashboard (``monitor_model`` owns it); the stack's outputs.
"""

from __future__ import annotations

import json
import uuid

import pytest

from image_mlops_dev import infra
from image_mlops_dev.stack.settings import get_stack_settings

pytestmark = pytest.mark.stack


@pytest.fixture
def deploy(admin):
    """``deploy(**parameters)``: the template (less what the emulator lacks) as a stack of
    its own names; every stack and bucket it made is deleted after the test."""
    made = []
    aws = admin

    def deploy(**extra: str) -> dict:
        tag = uuid.uuid4().hex[:8]
        names = {
            "RawBucketName": f"cfn-{tag}-raw",
            "ValidatedBucketName": f"cfn-{tag}-validated",
            "ModelsBucketName": f"cfn-{tag}-models",
            "OutputBucketName": f"cfn-{tag}-output",
            "ModelName": f"cfn-{tag}-classifier",
            "SageMakerRoleName": f"cfn-{tag}-sagemaker",
            "WorkerRoleName": f"cfn-{tag}-worker",
            "NotificationTopicName": f"cfn-{tag}-notifications",
            "ValidationStateMachineName": f"cfn-{tag}-validate-images",
            "ValidationFunctionName": f"cfn-{tag}-validate",
            **extra,
        }
        stack = f"image-mlops-{tag}"
        made.append((stack, names))
        aws.cloudformation.create_stack(
            StackName=stack,
            TemplateBody=infra.TEMPLATE_PATH.read_text(),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in names.items()],
            Capabilities=["CAPABILITY_NAMED_IAM"],
        )
        described = aws.cloudformation.describe_stacks(StackName=stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
        return {"stack": described, "names": names, "outputs": outputs}

    yield deploy
    for stack, names in made:
        aws.cloudformation.delete_stack(StackName=stack)
        for key in ("RawBucketName", "ValidatedBucketName", "ModelsBucketName", "OutputBucketName"):
            bucket = names[key]
            try:
                versions = aws.s3.list_object_versions(Bucket=bucket)
            except aws.s3.exceptions.NoSuchBucket:
                continue
            for item in versions.get("Versions", []) + versions.get("DeleteMarkers", []):
                aws.s3.delete_object(Bucket=bucket, Key=item["Key"], VersionId=item["VersionId"])
            aws.s3.delete_bucket(Bucket=bucket)


def test_the_stack_deploys_what_the_dags_need(admin, deploy):
    aws = admin
    deployed = deploy()
    names, stack = deployed["names"], deployed["stack"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack.get("StackStatusReason")
    for key, versioned in (
        ("RawBucketName", False),
        ("ValidatedBucketName", True),
        ("ModelsBucketName", True),
        ("OutputBucketName", False),
    ):
        bucket = names[key]
        rules = aws.s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]
        assert rules["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
        block = aws.s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4, block
        status = aws.s3.get_bucket_versioning(Bucket=bucket).get("Status")
        assert (status == "Enabled") is versioned, (bucket, status)
        ownership = aws.s3.get_bucket_ownership_controls(Bucket=bucket)
        assert (
            ownership["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerEnforced"
        )
    lifecycle = aws.s3.get_bucket_lifecycle_configuration(Bucket=names["OutputBucketName"])
    expiring = {r["ID"]: r for r in lifecycle["Rules"]}
    assert expiring["expire-run-manifests"]["Filter"]["Prefix"] == "predictions/_manifests/"
    assert expiring["expire-run-manifests"]["Expiration"]["Days"] == 90
    assert expiring["expire-data-capture"]["Filter"]["Prefix"] == "data-capture/"

    worker = aws.iam.get_role(RoleName=names["WorkerRoleName"])["Role"]
    trust = worker["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"]
    assert set(trust) == {"airflow-env.amazonaws.com", "airflow.amazonaws.com"}
    attached = aws.iam.list_attached_role_policies(RoleName=names["WorkerRoleName"])
    assert len(attached["AttachedPolicies"]) == len(list(infra.IAM_DIR.glob("*.json")))
    deploy = next(p for p in attached["AttachedPolicies"] if "DeployModelPolicy" in p["PolicyName"])
    version = aws.iam.get_policy(PolicyArn=deploy["PolicyArn"])["Policy"]["DefaultVersionId"]
    document = aws.iam.get_policy_version(PolicyArn=deploy["PolicyArn"], VersionId=version)
    text = json.dumps(document["PolicyVersion"]["Document"])
    assert f"endpoint/{names['ModelName']}-*" in text and names["ModelsBucketName"] in text
    assert "${" not in text  # every parameter substituted
    sagemaker_role = aws.iam.get_role(RoleName=names["SageMakerRoleName"])["Role"]
    outputs = deployed["outputs"]
    assert outputs["SageMakerRoleArn"] == sagemaker_role["Arn"]
    assert outputs["NotificationTopicArn"].endswith(f":{names['NotificationTopicName']}")
    attributes = aws.sns.get_topic_attributes(TopicArn=outputs["NotificationTopicArn"])
    # the stack's own key (CloudWatch cannot publish to a topic under alias/aws/sns), its
    # policy the JSON text KMS answers, naming CloudWatch
    key_id = attributes["Attributes"]["KmsMasterKeyId"]
    assert key_id != "alias/aws/sns"
    key = aws.kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert key["KeyManager"] == "CUSTOMER" and key["KeyState"] == "Enabled"
    key_policy = json.loads(aws.kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    by_sid = {statement["Sid"]: statement for statement in key_policy["Statement"]}
    assert by_sid["CloudWatchAlarmsPublish"]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert f"IMAGE_MLOPS_MODELS_BUCKET={names['ModelsBucketName']}" in outputs["Settings"]
    # one owner of the dashboard: monitor_model writes it, the stack does not
    dashboards = aws.cloudwatch.list_dashboards()["DashboardEntries"]
    assert f"image-mlops-{names['ModelName']}" not in {d["DashboardName"] for d in dashboards}
    group = aws.sagemaker.describe_model_package_group(ModelPackageGroupName=names["ModelName"])
    assert group["ModelPackageGroupStatus"] == "Completed"
    policy = json.loads(aws.s3.get_bucket_policy(Bucket=names["ModelsBucketName"])["Policy"])
    sids = {statement.get("Sid") for statement in policy["Statement"]}
    assert "RegisteredModelVersionsAreWriteOnce" in sids
    assert "ValidationStateMachineArn" not in outputs  # no Lambda code uploaded yet


def test_with_the_lambda_code_uploaded_the_stack_has_the_validation_route(admin, deploy, settings):
    """The validation route's Lambda and state machine, from a zip uploaded before (in the
    emulator, a stack update does not create resources it adds: the zip is given at creation)."""
    from image_mlops_dev.packaging import validation_lambda_zip

    aws = admin

    key = f"lambda/validate_images-{uuid.uuid4().hex[:8]}.zip"
    aws.s3.put_object(Bucket=settings.models_bucket, Key=key, Body=validation_lambda_zip())
    try:
        deployed = deploy(
            ValidationLambdaCodeKey=key, ValidationLambdaCodeBucket=settings.models_bucket
        )
    finally:
        aws.s3.delete_object(Bucket=settings.models_bucket, Key=key)
    assert deployed["stack"]["StackStatus"] == "CREATE_COMPLETE"
    machine = aws.stepfunctions.describe_state_machine(
        stateMachineArn=deployed["outputs"]["ValidationStateMachineArn"]
    )
    name = deployed["names"]["ValidationFunctionName"]
    function = getattr(aws, "lambda").get_function(FunctionName=name)["Configuration"]
    assert function["Handler"] == "validate_lambda.handler" and function["Timeout"] == 900
    assert function["FunctionArn"] in machine["definition"]
    assert "${ValidateFunctionArn}" not in machine["definition"]


def _as_role(role: str, settings, *services: str) -> list:
    """Clients acting as ``role`` with the credentials an MWAA environment hands Airflow: the
    emulator's container credentials endpoint, which plays ``airflow-env.amazonaws.com``
    assuming its execution role (the role's trust policy must allow it)."""
    import boto3
    import requests

    from image_mlops_dev.stack.identities import ca_bundle, worker_credentials_environment

    endpoint = worker_credentials_environment(get_stack_settings(), role)
    answer = requests.get(
        endpoint["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
        headers={"Authorization": endpoint["AWS_CONTAINER_AUTHORIZATION_TOKEN"]},
        timeout=30,
    )
    answer.raise_for_status()
    credentials = answer.json()
    return [
        boto3.client(
            service,
            endpoint_url=get_stack_settings().emulator_url,
            region_name=settings.region,
            verify=str(ca_bundle(settings)),
            aws_access_key_id=credentials["AccessKeyId"],
            aws_secret_access_key=credentials["SecretAccessKey"],
            aws_session_token=credentials["Token"],
        )
        for service in services
    ]


def _refused(call, *args, **kwargs) -> str:
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as refused:
        call(*args, **kwargs)
    return refused.value.response["Error"]["Code"]


def test_with_an_mwaa_environment_the_worker_role_is_its_execution_role(admin, deploy, settings):
    """``MwaaEnvironmentName`` and ``MwaaDagBucketName`` add MWAA's own permissions to the
    worker role, in a policy of their own; acting as the role with the credentials MWAA would
    hand Airflow, the emulator allows what MWAA does there and refuses what is next to it."""
    aws = admin
    tag = uuid.uuid4().hex[:8]
    environment, dag_bucket, queue = (
        f"cfn-{tag}-airflow",
        f"cfn-{tag}-dags",
        f"airflow-celery-{tag}",
    )
    aws.s3.create_bucket(Bucket=dag_bucket)
    queue_url = aws.sqs.create_queue(QueueName=queue)["QueueUrl"]
    try:
        aws.s3.put_object(Bucket=dag_bucket, Key="dags/classify_images.py", Body=b"# a DAG")
        deployed = deploy(MwaaEnvironmentName=environment, MwaaDagBucketName=dag_bucket)
        assert deployed["stack"]["StackStatus"] == "CREATE_COMPLETE"
        names, stack = deployed["names"], deployed["stack"]["StackName"]
        role = names["WorkerRoleName"]

        attached = aws.iam.list_attached_role_policies(RoleName=role)["AttachedPolicies"]
        assert len(attached) == len(list(infra.IAM_DIR.glob("*.json"))) + 1  # DAGs' + MWAA's
        (mwaa,) = [p for p in attached if p["PolicyName"] == f"{stack}-mwaa-environment"]
        version = aws.iam.get_policy(PolicyArn=mwaa["PolicyArn"])["Policy"]["DefaultVersionId"]
        document = aws.iam.get_policy_version(PolicyArn=mwaa["PolicyArn"], VersionId=version)
        text = json.dumps(document["PolicyVersion"]["Document"])
        assert f":environment/{environment}" in text and f"s3:::{dag_bucket}/*" in text
        assert f"log-group:airflow-{environment}-*" in text and "${" not in text

        s3, cloudwatch, logs, sqs = _as_role(role, settings, "s3", "cloudwatch", "logs", "sqs")
        # the DAG bucket: read, never written
        body = s3.get_object(Bucket=dag_bucket, Key="dags/classify_images.py")["Body"].read()
        assert body == b"# a DAG"
        assert s3.list_objects_v2(Bucket=dag_bucket)["KeyCount"] == 1
        assert _refused(s3.put_object, Bucket=dag_bucket, Key="dags/x.py", Body=b"") == (
            "AccessDenied"
        )
        # MWAA's metrics namespace (the DAGs' own is monitor_model's); no other
        cloudwatch.put_metric_data(
            Namespace="AmazonMWAA", MetricData=[{"MetricName": "Heartbeat", "Value": 1.0}]
        )
        assert _refused(
            cloudwatch.put_metric_data,
            Namespace="SomeoneElse",
            MetricData=[{"MetricName": "Heartbeat", "Value": 1.0}],
        ) in ("AccessDenied", "AccessDeniedException")
        # the environment's log groups only
        group = f"airflow-{environment}-Task"
        logs.create_log_group(logGroupName=group)
        try:
            logs.create_log_stream(logGroupName=group, logStreamName="dag_id=x/attempt=1.log")
            assert _refused(logs.create_log_group, logGroupName=f"airflow-{tag}-other-Task") == (
                "AccessDeniedException"
            )
        finally:
            aws.logs.delete_log_group(logGroupName=group)
        # the Celery queues (airflow-celery-*), no other
        sqs.send_message(QueueUrl=queue_url, MessageBody="task")
        assert sqs.receive_message(QueueUrl=queue_url)["Messages"][0]["Body"] == "task"
        assert _refused(sqs.delete_queue, QueueUrl=queue_url) in (
            "AccessDenied",
            "AccessDeniedException",
        )
    finally:
        aws.sqs.delete_queue(QueueUrl=queue_url)
        for item in aws.s3.list_objects_v2(Bucket=dag_bucket).get("Contents", []):
            aws.s3.delete_object(Bucket=dag_bucket, Key=item["Key"])
        aws.s3.delete_bucket(Bucket=dag_bucket)
