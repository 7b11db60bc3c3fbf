"""The AWS side as code: the CloudFormation template of everything the DAGs need on AWS.

``python -m image_mlops_dev.infra`` (``make infra``) writes ``infra/image-mlops.yaml`` from
the sources it must agree with, so there is one of each:

* the worker role's policies are ``docs/iam/<dag_id>.json`` (one managed policy per DAG),
  their account, region, bucket and model names turned into the stack's parameters;
* the models bucket's write-once statement is :func:`image_mlops.registry.models_bucket_policy`;
* the validation state machine is ``image_mlops/include/statemachines/validate_images.asl.json``;
* MWAA's own permissions (the worker role as an environment's execution role) are
  :func:`mwaa_environment_statements`, from AWS's published execution-role policy (not a DAG's
  calls: they are not in ``docs/iam/``), created only when ``MwaaEnvironmentName`` is set;
* the dashboard is not in it: ``monitor_model`` owns it (it draws the classes it sees), so it
  has one writer;
* names (buckets, model package group, topic, state machine, SageMaker role) default to the
  settings' defaults.

The template is checked by ``cfn-lint`` and ``checkov`` in the tests, and it is what the
local stack deploys to the emulator (``image-mlops stack deploy``, done by ``make up``): the
same template, with the parameters a user would set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from image_mlops.config import INCLUDE_DIR, PROJECT_ROOT, Settings

TEMPLATE_PATH = PROJECT_ROOT / "infra" / "image-mlops.yaml"
IAM_DIR = PROJECT_ROOT / "docs" / "iam"
STATE_MACHINE = INCLUDE_DIR / "statemachines" / "validate_images.asl.json"
#: The account and region the policy documents in docs/iam are written for.
DOC_ACCOUNT, DOC_REGION = "123456789012", "us-east-1"
SAGEMAKER_ROLE = "image-mlops-sagemaker"
WORKER_ROLE = "image-mlops-worker"
VALIDATION_STATE_MACHINE = "image-mlops-validate-images"

BUCKETS = {  # logical id → (parameter, settings field, versioned, description)
    "RawBucket": ("RawBucketName", "raw_bucket", False, "uploads, quarantine, feedback"),
    "ValidatedBucket": ("ValidatedBucketName", "validated_bucket", True, "validated images"),
    "ModelsBucket": ("ModelsBucketName", "models_bucket", True, "model artifacts"),
    "OutputBucket": ("OutputBucketName", "output_bucket", False, "predictions, captures"),
}


def _names(settings: Settings) -> dict[str, str]:
    """Literal of the documents → its ``${Parameter}``, longest first."""
    names = {
        getattr(settings, field): "${" + parameter + "}"
        for parameter, field, *_ in BUCKETS.values()
    }
    names[f"role/{SAGEMAKER_ROLE}"] = "role/${SageMakerRoleName}"
    names[f"stateMachine:{VALIDATION_STATE_MACHINE}"] = "stateMachine:${ValidationStateMachineName}"
    names[f"execution:{VALIDATION_STATE_MACHINE}"] = "execution:${ValidationStateMachineName}"
    names[settings.model_name] = "${ModelName}"
    names["RETAILER-MEDIA-BUCKET"] = "${CatalogMediaBucketName}"
    names[settings.cloudwatch_namespace] = "${MetricsNamespace}"
    names[f":{settings.notification_topic}"] = ":${NotificationTopicName}"
    return dict(sorted(names.items(), key=lambda kv: -len(kv[0])))


def _replace_names(value: str, names: dict[str, str]) -> str:
    for literal, replacement in names.items():
        value = value.replace(literal, replacement)
    return value


def _policy_document(document: Any, names: dict[str, str]) -> Any:
    if isinstance(document, dict):
        return {k: _policy_document(v, names) for k, v in document.items()}
    if isinstance(document, list):
        return [_policy_document(v, names) for v in document]
    if isinstance(document, str):
        replaced = document.replace(f":{DOC_REGION}:", ":${AWS::Region}:").replace(
            f":{DOC_ACCOUNT}:", ":${AWS::AccountId}:"
        )
        replaced = _replace_names(replaced, names)
        return {"Fn::Sub": replaced} if replaced != document else document
    return document


def _bucket(logical: str, settings: Settings) -> dict[str, Any]:
    parameter, _field, versioned, description = BUCKETS[logical]
    rules: list[dict[str, Any]] = [
        {
            "Id": "abort-incomplete-uploads",
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }
    ]
    if versioned:
        rules.append(
            {
                "Id": "expire-old-versions",
                "Status": "Enabled",
                "NoncurrentVersionExpiration": {
                    "NoncurrentDays": {"Ref": "OldVersionRetentionDays"}
                },
            }
        )
    if logical == "OutputBucket":
        rules += [
            {
                "Id": "expire-run-manifests",
                "Status": "Enabled",
                "Prefix": "predictions/_manifests/",
                "ExpirationInDays": {"Ref": "ManifestRetentionDays"},
            },
            {
                "Id": "expire-data-capture",
                "Status": "Enabled",
                "Prefix": "data-capture/",
                "ExpirationInDays": {"Ref": "DataCaptureRetentionDays"},
            },
            {
                "Id": "expire-work-files",
                "Status": "Enabled",
                "Prefix": "_work/",
                "ExpirationInDays": 7,
            },
        ]
    skips = [
        {
            "id": "CKV_AWS_18",
            "comment": "access logging needs a log bucket of your organisation's: add it there",
        }
    ]
    if not versioned:
        skips.append(
            {
                "id": "CKV_AWS_21",
                "comment": f"{description}: transient objects, re-creatable; lifecycle rules "
                "expire them",
            }
        )
    return {
        "Type": "AWS::S3::Bucket",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Metadata": {"checkov": {"skip": skips}},
        "Properties": {
            "BucketName": {"Ref": parameter},
            "BucketEncryption": {
                "ServerSideEncryptionConfiguration": [
                    {
                        "ServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
                        "BucketKeyEnabled": True,
                    }
                ]
            },
            "PublicAccessBlockConfiguration": {
                "BlockPublicAcls": True,
                "BlockPublicPolicy": True,
                "IgnorePublicAcls": True,
                "RestrictPublicBuckets": True,
            },
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            **({"VersioningConfiguration": {"Status": "Enabled"}} if versioned else {}),
            "LifecycleConfiguration": {"Rules": rules},
            "Tags": [{"Key": "image-mlops:role", "Value": description}],
        },
    }


def _bucket_policy(logical: str, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    arn = {"Fn::GetAtt": [logical, "Arn"]}
    statements = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [arn, {"Fn::Sub": "${" + logical + ".Arn}/*"}],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        *(extra or []),
    ]
    return {
        "Type": "AWS::S3::BucketPolicy",
        "Properties": {
            "Bucket": {"Ref": logical},
            "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
        },
    }


def _role(
    service: Any,
    statements: list[dict[str, Any]],
    name: Any,
    description: str,
    *,
    managed_policies: list[Any] | None = None,
    condition: str | None = None,
    also_trusted: tuple[str, Any] | None = None,
) -> dict:
    """A role ``service`` assumes, with an inline policy of ``statements`` or the
    ``managed_policies``; created only under ``condition`` when given. ``also_trusted``:
    (condition, AWS principals) that may assume it too when the condition holds."""
    trust: Any = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    if also_trusted is not None:
        when, principals = also_trusted
        wider = {
            **trust,
            "Statement": [
                *trust["Statement"],
                {"Effect": "Allow", "Principal": {"AWS": principals}, "Action": "sts:AssumeRole"},
            ],
        }
        trust = {"Fn::If": [when, wider, trust]}
    properties: dict[str, Any] = {
        "RoleName": name,
        "Description": description,
        "AssumeRolePolicyDocument": trust,
    }
    if statements:
        properties["Policies"] = [
            {
                "PolicyName": "image-mlops",
                "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
            }
        ]
    if managed_policies:
        properties["ManagedPolicyArns"] = managed_policies
    role = {"Type": "AWS::IAM::Role", "Properties": properties}
    return {"Condition": condition, **role} if condition else role


def _bucket_arns(logical: str, objects: str = "*") -> list[Any]:
    return [{"Fn::GetAtt": [logical, "Arn"]}, {"Fn::Sub": "${" + logical + ".Arn}/" + objects}]


#: The CloudWatch namespace of the Apache Airflow metrics MWAA publishes through the execution
#: role (Amazon MWAA User Guide, "Apache Airflow v2 environment metrics in CloudWatch": "For
#: Amazon MWAA, the namespace is AmazonMWAA"). Its container, queue and database metrics
#: (``AWS/MWAA``) are the service's own: namespaces beginning with ``AWS/`` are AWS's
#: services', which PutMetricData's reference says not to publish to.
MWAA_METRICS_NAMESPACE = "AmazonMWAA"


def mwaa_environment_statements() -> list[Any]:
    """What Amazon MWAA itself does as its environment's execution role, for the worker role
    to be one: the statements of AWS's published execution-role policy, scoped to the
    ``MwaaEnvironmentName`` environment and the ``MwaaDagBucketName`` bucket.

    Source: Amazon MWAA User Guide, "Amazon MWAA execution role"
    (https://docs.aws.amazon.com/mwaa/latest/userguide/mwaa-create-role.html, read 2026-12-07:
    its overview, the services the role needs and the AWS owned key note), whose "Sample JSON
    policies for an execution role" are taken as the guide's published source has them
    (github.com/awsdocs/amazon-mwaa-user-guide, doc_source/mwaa-create-role.md at 3518764,
    2022-12-12, its last revision before AWS archived the repository); and the Service
    Authorization Reference, "Actions, resources, and condition keys for Amazon Managed
    Workflows for Apache Airflow" (https://docs.aws.amazon.com/service-authorization/latest/
    reference/list_amazonmanagedworkflowsforapacheairflow.html, read 2026-12-07):
    ``airflow:PublishMetrics`` is authorised on ``environment/${EnvironmentName}``.

    For MWAA's default key, an AWS owned key: an environment with a customer managed key
    (``KmsKey``) needs the guide's statement for one instead (that key, through SQS and S3),
    and the key policy's statement for CloudWatch Logs; the template does not make either.

    Left out of the sample: its ``Deny s3:ListAllMyBuckets`` on the bucket's ARNs.
    ``ListAllMyBuckets`` is authorised on ``*`` only, so that statement matches no request and
    ``s3:List*`` on the bucket's ARNs cannot grant it either. Narrower than the sample:
    ``cloudwatch:PutMetricData`` (``*`` there) is held to MWAA's namespace.
    """

    def arn(service: str, rest: str) -> dict[str, str]:
        """An ARN of this stack's partition, region and account."""
        here = "${AWS::Partition}:" + service + ":${AWS::Region}:${AWS::AccountId}"
        return {"Fn::Sub": f"arn:{here}{rest}"}

    dag_bucket = "arn:${AWS::Partition}:s3:::${MwaaDagBucketName}"
    return [
        # MWAA reports the environment's health (IAM actions of the overview); the sample's
        # resource, the environment's ARN
        {
            "Sid": "PublishEnvironmentHealth",
            "Effect": "Allow",
            "Action": ["airflow:PublishMetrics"],
            "Resource": arn("airflow", ":environment/${MwaaEnvironmentName}"),
        },
        # MWAA reads the DAGs, plugins.zip, requirements.txt and startup script from the DAG
        # bucket: the sample's actions (every one they match is of access level Read or List)
        # on that bucket and its objects only
        {
            "Sid": "ReadDagBucket",
            "Effect": "Allow",
            "Action": ["s3:GetObject*", "s3:GetBucket*", "s3:List*"],
            "Resource": [{"Fn::Sub": dag_bucket}, {"Fn::Sub": dag_bucket + "/*"}],
        },
        # MWAA checks the account's public access block ("Grant access to Amazon S3 bucket
        # with account-level public access block"); the action is authorised on * only
        {
            "Sid": "CheckAccountPublicAccessBlock",
            "Effect": "Allow",
            "Action": ["s3:GetAccountPublicAccessBlock"],
            "Resource": "*",
        },
        # the environment's Airflow logs: its own log groups only, airflow-<environment>-<type>
        # (DAGProcessing, Scheduler, Task, WebServer, Worker), their streams and queries; the
        # pattern the guide says MWAA itself gives a role it creates
        {
            "Sid": "EnvironmentLogs",
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogStream",
                "logs:CreateLogGroup",
                "logs:PutLogEvents",
                "logs:GetLogEvents",
                "logs:GetLogRecord",
                "logs:GetLogGroupFields",
                "logs:GetQueryResults",
            ],
            "Resource": arn("logs", ":log-group:airflow-${MwaaEnvironmentName}-*"),
        },
        # finding those log groups: DescribeLogGroups is authorised on * only
        {
            "Sid": "FindLogGroups",
            "Effect": "Allow",
            "Action": ["logs:DescribeLogGroups"],
            "Resource": "*",
        },
        # the Airflow metrics MWAA publishes; PutMetricData is authorised on * only, so the
        # namespace condition is what scopes it (the DAGs' own namespace is monitor_model's
        # statement)
        {
            "Sid": "PublishAirflowMetrics",
            "Effect": "Allow",
            "Action": ["cloudwatch:PutMetricData"],
            "Resource": "*",
            "Condition": {"StringEquals": {"cloudwatch:namespace": MWAA_METRICS_NAMESPACE}},
        },
        # the Celery executor's task queues, which MWAA owns in its own account (hence the
        # account *): the queues named airflow-celery-* of this region only
        {
            "Sid": "CeleryQueues",
            "Effect": "Allow",
            "Action": [
                "sqs:ChangeMessageVisibility",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
                "sqs:GetQueueUrl",
                "sqs:ReceiveMessage",
                "sqs:SendMessage",
            ],
            "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sqs:${AWS::Region}:*:airflow-celery-*"},
        },
        # the Celery queues' key. MWAA's default, an AWS owned key, lives in MWAA's account:
        # the sample for an AWS owned key allows any key *outside* this account (NotResource),
        # and only as SQS uses it in this region (kms:ViaService)
        {
            "Sid": "CeleryQueueAwsOwnedKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey*", "kms:Encrypt"],
            "NotResource": {"Fn::Sub": "arn:${AWS::Partition}:kms:*:${AWS::AccountId}:key/*"},
            "Condition": {
                "StringLike": {"kms:ViaService": [{"Fn::Sub": "sqs.${AWS::Region}.amazonaws.com"}]}
            },
        },
        # the connections (product_catalog_db, image_mlops_db) in Secrets Manager, read by the
        # amazon provider's SecretsManagerBackend as docs/aws.md configures it
        # (connections_prefix airflow/connections, no variables or config lookups): the
        # backend calls GetSecretValue only (airflow.providers.amazon.aws.secrets.
        # secrets_manager); the secret ARN ends in a random suffix, hence the trailing *
        {
            "Sid": "ReadAirflowConnections",
            "Effect": "Allow",
            "Action": ["secretsmanager:GetSecretValue"],
            "Resource": arn("secretsmanager", ":secret:airflow/connections/*"),
        },
    ]


def notification_key() -> dict[str, Any]:
    """The customer managed key of the notification topic, whose policy lets CloudWatch publish
    the alarms' actions to the topic and the workers publish through SNS.

    Source: Amazon SNS Developer Guide, "Enable compatibility between event sources from AWS
    services and encrypted topics" (https://docs.aws.amazon.com/sns/latest/dg/
    sns-key-management.html#compatibility-with-aws-services, read 2026-12-07): a service that
    publishes to an encrypted topic, CloudWatch among them, needs a customer managed key whose
    policy allows the service's principal ``kms:GenerateDataKey*`` and ``kms:Decrypt``; the
    AWS managed key ``alias/aws/sns`` cannot be given that policy, and an alarm's action to a
    topic encrypted with it fails (AWS Knowledge Center, "How do I configure a CloudWatch alarm
    with an encrypted Amazon SNS topic?", https://repost.aws/knowledge-center/
    cloudwatch-configure-alarm-sns). A publisher needs the same two actions on the key: the
    worker role gets them only through SNS (``kms:ViaService``). The account's root keeps
    administering the key, as in KMS's default key policy, so the key is never unmanageable.
    """
    both = ["kms:Decrypt", "kms:GenerateDataKey*"]
    statements = [
        {
            "Sid": "AccountAdministersTheKey",
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Sid": "CloudWatchAlarmsPublish",
            "Effect": "Allow",
            "Principal": {"Service": "cloudwatch.amazonaws.com"},
            "Action": both,
            "Resource": "*",
        },
        {
            "Sid": "WorkersPublishThroughSns",
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::GetAtt": ["WorkerRole", "Arn"]}},
            "Action": both,
            "Resource": "*",
            "Condition": {
                "StringEquals": {"kms:ViaService": {"Fn::Sub": "sns.${AWS::Region}.amazonaws.com"}}
            },
        },
    ]
    return {
        "Type": "AWS::KMS::Key",
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "Description": "image-mlops notification topic (CloudWatch alarms publish to it)",
            "EnableKeyRotation": True,
            "KeyPolicy": {"Version": "2012-10-17", "Statement": statements},
        },
    }


def template(settings: Settings | None = None) -> dict[str, Any]:
    """The CloudFormation template (a dict; :func:`render` writes it as YAML)."""
    from image_mlops.registry import models_bucket_policy
    from image_mlops_dev.packaging import LAMBDA_HANDLER

    settings = settings or Settings()
    names = _names(settings)
    parameters: dict[str, Any] = {
        "ModelName": {
            "Type": "String",
            "Default": settings.model_name,
            "Description": "Model package group; endpoints are <name>-staging|production "
            "(IMAGE_MLOPS_MODEL_NAME).",
        },
        **{
            parameter: {
                "Type": "String",
                "Default": getattr(settings, field),
                "Description": f"Bucket for {description} (IMAGE_MLOPS_{field.upper()}): "
                "bucket names are global, choose your own.",
            }
            for parameter, field, _versioned, description in BUCKETS.values()
        },
        "CatalogMediaBucketName": {
            "Type": "String",
            "Default": "retailer-media-bucket",
            "Description": "The retailer's bucket the catalogue's image URLs point to "
            "(read only by extract_product_catalog).",
        },
        "MetricsNamespace": {
            "Type": "String",
            "Default": settings.cloudwatch_namespace,
            "Description": "CloudWatch namespace of the KPIs (IMAGE_MLOPS_CLOUDWATCH_NAMESPACE).",
        },
        "SageMakerRoleName": {
            "Type": "String",
            "Default": SAGEMAKER_ROLE,
            "Description": "Name of the SageMaker execution role (jobs and endpoints).",
        },
        "WorkerRoleName": {
            "Type": "String",
            "Default": WORKER_ROLE,
            "Description": "Name of the role the Airflow workers use.",
        },
        "WorkerPrincipalService": {
            "Type": "CommaDelimitedList",
            "Default": "airflow-env.amazonaws.com,airflow.amazonaws.com",
            "Description": "Services that assume the worker role (MWAA: the default; EC2 or "
            "EKS workers: ec2.amazonaws.com, or change the trust to your IRSA provider).",
        },
        "WorkerTrustedPrincipalArns": {
            "Type": "CommaDelimitedList",
            "Default": "",
            "Description": "IAM roles or users that may assume the worker role (self-hosted "
            "Airflow whose AWS connection names the worker role as role_arn); empty: none.",
        },
        "MwaaEnvironmentName": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "(|[a-zA-Z][0-9a-zA-Z_-]{0,79})",
            "Description": "The MWAA environment whose execution role the worker role is: "
            "adds MWAA's own permissions (its metrics, log groups, Celery queues, DAG bucket); "
            "empty: none.",
        },
        "MwaaDagBucketName": {
            "Type": "String",
            "Default": "",
            "AllowedPattern": "(|[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])",
            "Description": "That environment's bucket (DAGs, plugins.zip, requirements.txt), "
            "which MWAA reads; needed with MwaaEnvironmentName.",
        },
        "ValidationFunctionName": {
            "Type": "String",
            "Default": "image-mlops-validate",
            "Description": "The Step Functions validation route's Lambda function.",
        },
        "ValidationStateMachineName": {
            "Type": "String",
            "Default": VALIDATION_STATE_MACHINE,
            "Description": "The Step Functions validation route's state machine.",
        },
        "NotificationTopicName": {
            "Type": "String",
            "Default": settings.notification_topic,
            "Description": "SNS topic of the notifications (IMAGE_MLOPS_NOTIFICATION_TOPIC).",
        },
        "NotificationEmail": {
            "Type": "String",
            "Default": "",
            "Description": "An address subscribed to the notifications (empty: none).",
        },
        "ValidationLambdaCodeKey": {
            "Type": "String",
            "Default": "",
            "Description": "Key in the models bucket of the validation Lambda's zip (make "
            "lambda-zip); empty: no Lambda and state machine yet (update the stack once "
            "it is uploaded).",
        },
        "ValidationLambdaCodeBucket": {
            "Type": "String",
            "Default": "",
            "Description": "Bucket of that zip (empty: the models bucket of this stack).",
        },
        "ManifestRetentionDays": {"Type": "Number", "Default": 90, "MinValue": 1},
        "DataCaptureRetentionDays": {"Type": "Number", "Default": 30, "MinValue": 1},
        "OldVersionRetentionDays": {"Type": "Number", "Default": 90, "MinValue": 1},
    }
    resources: dict[str, Any] = {logical: _bucket(logical, settings) for logical in BUCKETS}
    write_once = _policy_document(models_bucket_policy(settings)["Statement"], names)
    for logical in BUCKETS:
        extra = write_once if logical == "ModelsBucket" else None
        resources[f"{logical}Policy"] = _bucket_policy(logical, extra)
    resources["ModelPackageGroup"] = {
        "Type": "AWS::SageMaker::ModelPackageGroup",
        "Properties": {
            "ModelPackageGroupName": {"Ref": "ModelName"},
            "ModelPackageGroupDescription": "Product-image classifier (image-mlops)",
        },
    }
    resources["SageMakerExecutionRole"] = _role(
        "sagemaker.amazonaws.com",
        [
            {
                "Sid": "ReadTrainingDataAndArtifacts",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"],
                "Resource": [*_bucket_arns("ValidatedBucket"), *_bucket_arns("ModelsBucket")],
            },
            # Batch Transform reads the JSON lines a classify run writes under
            # _work/classify/<run>/transform-in/ (it lists that prefix, then gets each object)
            # and writes <object>.out under transform-out/: nothing else of the output bucket.
            {
                "Sid": "ReadTransformInput",
                "Effect": "Allow",
                "Action": ["s3:GetObject"],
                "Resource": {"Fn::Sub": "${OutputBucket.Arn}/_work/classify/*/transform-in/*"},
            },
            {
                "Sid": "ListTransformInput",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": {"Fn::GetAtt": ["OutputBucket", "Arn"]},
                "Condition": {"StringLike": {"s3:prefix": "_work/classify/*/transform-in/*"}},
            },
            {
                "Sid": "WriteJobOutputAndCaptures",
                "Effect": "Allow",
                "Action": ["s3:PutObject"],
                "Resource": [
                    {"Fn::Sub": "${ModelsBucket.Arn}/${ModelName}/_jobs/*"},
                    {"Fn::Sub": "${OutputBucket.Arn}/data-capture/*"},
                    {"Fn::Sub": "${OutputBucket.Arn}/_work/classify/*/transform-out/*"},
                ],
            },
            {
                "Sid": "PullFrameworkImages",
                "Effect": "Allow",
                "Action": [
                    "ecr:BatchCheckLayerAvailability",
                    "ecr:BatchGetImage",
                    "ecr:GetDownloadUrlForLayer",
                ],
                "Resource": {"Fn::Sub": "arn:${AWS::Partition}:ecr:*:*:repository/*"},
            },
            {
                "Sid": "RegistryToken",
                "Effect": "Allow",
                "Action": ["ecr:GetAuthorizationToken"],
                "Resource": "*",
            },
            {
                "Sid": "JobAndEndpointLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": {
                    "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
                    ":log-group:/aws/sagemaker/*"
                },
            },
            {
                "Sid": "JobMetrics",
                "Effect": "Allow",
                "Action": ["cloudwatch:PutMetricData"],
                "Resource": "*",
                "Condition": {"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
            },
        ],
        {"Ref": "SageMakerRoleName"},
        "SageMaker training, transform jobs and endpoints of image-mlops",
    )
    policies = []
    for path in sorted(IAM_DIR.glob("*.json")):
        logical = "".join(part.title() for part in path.stem.split("_")) + "Policy"
        resources[logical] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": f"What the {path.stem} DAG calls (docs/iam/{path.name}).",
                "PolicyDocument": _policy_document(json.loads(path.read_text()), names),
            },
        }
        policies.append({"Ref": logical})
    resources["WorkerRole"] = _role(
        {"Ref": "WorkerPrincipalService"},
        [],
        {"Ref": "WorkerRoleName"},
        "Airflow workers",
        managed_policies=policies,
        also_trusted=("TrustWorkerPrincipals", {"Ref": "WorkerTrustedPrincipalArns"}),
    )
    # MWAA's own permissions, attached by the policy itself (Roles) so the worker role's list
    # of DAG policies needs no condition. cfn-lint resolves the bucket's ARN with the
    # parameters' defaults ("arn:aws:s3:::", W1031): the policy is made only with an
    # environment, and the rule MwaaEnvironmentNamesItsDagBucket refuses one without a bucket.
    resources["MwaaEnvironmentPolicy"] = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Condition": "MwaaExecutionRole",
        "Metadata": {"cfn-lint": {"config": {"ignore_checks": ["W1031"]}}},
        "Properties": {
            "ManagedPolicyName": {"Fn::Sub": "${AWS::StackName}-mwaa-environment"},
            "Description": "What Amazon MWAA does as the environment's execution role (AWS's "
            "published execution-role policy, scoped to the environment and its DAG bucket).",
            "Roles": [{"Ref": "WorkerRole"}],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": mwaa_environment_statements()},
        },
    }
    resources["ValidationFunctionRole"] = _role(
        "lambda.amazonaws.com",
        [
            {
                "Sid": "ValidateBatches",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [
                    {"Fn::Sub": "${RawBucket.Arn}/*"},
                    {"Fn::Sub": "${ValidatedBucket.Arn}/*"},
                ],
            },
            {
                "Sid": "ListBatches",
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [
                    {"Fn::GetAtt": ["RawBucket", "Arn"]},
                    {"Fn::GetAtt": ["ValidatedBucket", "Arn"]},
                ],
            },
            {
                "Sid": "Logs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": {
                    "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}"
                    ":log-group:/aws/lambda/${ValidationFunctionName}:*"
                },
            },
        ],
        {"Fn::Sub": "${AWS::StackName}-validate"},
        "The validation Lambda",
        condition="DeployValidationRoute",
    )
    resources["ValidationFunction"] = {
        "Type": "AWS::Lambda::Function",
        "Condition": "DeployValidationRoute",
        "Metadata": {
            "checkov": {
                "skip": [
                    {"id": "CKV_AWS_116", "comment": "Step Functions retries a failed batch"},
                    {"id": "CKV_AWS_117", "comment": "reaches only S3; no VPC resources"},
                    {"id": "CKV_AWS_173", "comment": "its environment holds no secret"},
                ]
            }
        },
        "Properties": {
            "FunctionName": {"Ref": "ValidationFunctionName"},
            "Runtime": "python3.12",
            "Handler": LAMBDA_HANDLER,
            "Role": {"Fn::GetAtt": ["ValidationFunctionRole", "Arn"]},
            "Code": {
                "S3Bucket": {
                    "Fn::If": [
                        "LambdaCodeInModelsBucket",
                        {"Ref": "ModelsBucket"},
                        {"Ref": "ValidationLambdaCodeBucket"},
                    ]
                },
                "S3Key": {"Ref": "ValidationLambdaCodeKey"},
            },
            "Timeout": 900,
            "MemorySize": 2048,
            "ReservedConcurrentExecutions": 20,
            "Environment": {"Variables": {"VALIDATION_WORKERS": "4"}},
        },
    }
    # Step Functions' service principal as its Developer Guide's trust policy names it
    # ("states.amazonaws.com"; docs.aws.amazon.com/step-functions/latest/dg/procedure-create-
    # iam-role.html, read 2026-12-06), the one the service assumes roles as
    resources["ValidationStateMachineRole"] = _role(
        "states.amazonaws.com",
        [
            {
                "Sid": "InvokeValidation",
                "Effect": "Allow",
                "Action": ["lambda:InvokeFunction"],
                "Resource": {"Fn::GetAtt": ["ValidationFunction", "Arn"]},
            }
        ],
        {"Fn::Sub": "${AWS::StackName}-validate-states"},
        "The validation state machine",
        condition="DeployValidationRoute",
    )
    resources["ValidationStateMachine"] = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Condition": "DeployValidationRoute",
        "Properties": {
            "StateMachineName": {"Ref": "ValidationStateMachineName"},
            "RoleArn": {"Fn::GetAtt": ["ValidationStateMachineRole", "Arn"]},
            "DefinitionString": STATE_MACHINE.read_text(),
            "DefinitionSubstitutions": {
                "ValidateFunctionArn": {"Fn::GetAtt": ["ValidationFunction", "Arn"]}
            },
        },
    }
    resources["NotificationKey"] = notification_key()
    resources["NotificationTopic"] = {
        "Type": "AWS::SNS::Topic",
        "Properties": {
            "TopicName": {"Ref": "NotificationTopicName"},
            "DisplayName": "image-mlops",
            # not alias/aws/sns: CloudWatch cannot publish the alarms' actions to a topic
            # encrypted with the AWS managed key (notification_key)
            "KmsMasterKeyId": {"Ref": "NotificationKey"},
        },
    }
    resources["NotificationEmailSubscription"] = {
        "Type": "AWS::SNS::Subscription",
        "Condition": "SubscribeEmail",
        "Properties": {
            "TopicArn": {"Ref": "NotificationTopic"},
            "Protocol": "email",
            "Endpoint": {"Ref": "NotificationEmail"},
        },
    }
    outputs = {
        "SageMakerRoleArn": {"Value": {"Fn::GetAtt": ["SageMakerExecutionRole", "Arn"]}},
        "WorkerRoleArn": {"Value": {"Fn::GetAtt": ["WorkerRole", "Arn"]}},
        "NotificationTopicArn": {"Value": {"Ref": "NotificationTopic"}},
        "Settings": {
            "Description": "The deployment settings of the Airflow workers for this stack.",
            "Value": {
                "Fn::Sub": " ".join(
                    [
                        "IMAGE_MLOPS_TARGET=aws",
                        "IMAGE_MLOPS_REGION=${AWS::Region}",
                        "IMAGE_MLOPS_ACCOUNT_ID=${AWS::AccountId}",
                        "IMAGE_MLOPS_MODEL_NAME=${ModelName}",
                        "IMAGE_MLOPS_RAW_BUCKET=${RawBucket}",
                        "IMAGE_MLOPS_VALIDATED_BUCKET=${ValidatedBucket}",
                        "IMAGE_MLOPS_MODELS_BUCKET=${ModelsBucket}",
                        "IMAGE_MLOPS_OUTPUT_BUCKET=${OutputBucket}",
                        "IMAGE_MLOPS_SAGEMAKER_ROLE_ARN=${SageMakerExecutionRole.Arn}",
                        "IMAGE_MLOPS_NOTIFICATION_TOPIC=${NotificationTopic}",
                        "IMAGE_MLOPS_CLOUDWATCH_NAMESPACE=${MetricsNamespace}",
                    ]
                )
            },
        },
        "ValidationStateMachineArn": {
            "Condition": "DeployValidationRoute",
            "Value": {"Ref": "ValidationStateMachine"},
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "image-mlops: buckets, model package group, roles, validation route, "
        "notification topic for the Airflow DAGs (the dashboard is monitor_model's; generated by "
        "python -m image_mlops_dev.infra; edit the sources, not this file).",
        "Parameters": parameters,
        "Rules": {
            "MwaaEnvironmentNamesItsDagBucket": {
                "RuleCondition": {
                    "Fn::Not": [{"Fn::Equals": [{"Ref": "MwaaEnvironmentName"}, ""]}]
                },
                "Assertions": [
                    {
                        "Assert": {"Fn::Not": [{"Fn::Equals": [{"Ref": "MwaaDagBucketName"}, ""]}]},
                        "AssertDescription": "MwaaEnvironmentName needs MwaaDagBucketName, the "
                        "bucket the environment reads its DAGs from.",
                    }
                ],
            }
        },
        "Conditions": {
            "MwaaExecutionRole": {
                "Fn::Not": [{"Fn::Equals": [{"Ref": "MwaaEnvironmentName"}, ""]}]
            },
            "DeployValidationRoute": {
                "Fn::Not": [{"Fn::Equals": [{"Ref": "ValidationLambdaCodeKey"}, ""]}]
            },
            "SubscribeEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "NotificationEmail"}, ""]}]},
            "TrustWorkerPrincipals": {
                "Fn::Not": [
                    {"Fn::Equals": [{"Fn::Join": ["", {"Ref": "WorkerTrustedPrincipalArns"}]}, ""]}
                ]
            },
            "LambdaCodeInModelsBucket": {"Fn::Equals": [{"Ref": "ValidationLambdaCodeBucket"}, ""]},
        },
        "Resources": resources,
        "Outputs": outputs,
    }


def render(document: dict[str, Any]) -> str:
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True  # CloudFormation rejects YAML aliases (cfn-lint W1101)

    def text(dumper: yaml.SafeDumper, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    header = "# Generated by `python -m image_mlops_dev.infra` from docs/iam/, the settings and\n"
    header += "# plugins/image_mlops/include/statemachines/: edit those and regenerate"
    header += " (a test compares).\n"
    return header + yaml.dump(document, Dumper=Dumper, sort_keys=False, width=100)


def main(path: Path = TEMPLATE_PATH) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(template()))
    print(f"wrote {path.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    main()
