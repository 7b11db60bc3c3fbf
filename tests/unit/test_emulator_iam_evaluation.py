"""The emulator's IAM policy evaluation, rule by rule, each against an example of AWS's own
documentation (IAM User Guide and Amazon S3 User Guide pages named in each test, as read in
2026-12). Pure: no emulator, no moto."""

from __future__ import annotations

import pytest

from image_mlops_dev.emulator.iam.evaluation import (
    RequestContext,
    UnknownConditionOperator,
    arn_like,
    condition_holds,
    conditions_hold,
    decide,
)

ACCOUNT = "123456789012"
SESSION = f"arn:aws:sts::{ACCOUNT}:assumed-role/image-mlops-worker/AmazonMWAA-local"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/image-mlops-worker"


def request(action: str, resource: str, **keys) -> RequestContext:
    return RequestContext(
        action,
        resource,
        SESSION,
        ACCOUNT,
        (ROLE,),
        None,
        {
            k.replace("__", ":").replace("_", "-"): v if isinstance(v, list) else [v]
            for k, v in keys.items()
        },
    )


def policy(*statements) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action, resource="*", **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


# --- Policy evaluation logic (reference_policies_evaluation-logic.html) --------------------
def test_nothing_allows_so_the_request_is_implicitly_denied():
    decision = decide([], [], request("s3:GetObject", "arn:aws:s3:::b/k"))
    assert not decision.allowed
    assert decision.reason == "because no identity-based policy allows the s3:GetObject action"


def test_an_explicit_deny_overrides_an_allow():
    # "An explicit deny in any of these policies overrides the allow."
    identity = policy(
        allow("s3:*", "arn:aws:s3:::b/*"), deny("s3:DeleteObject", "arn:aws:s3:::b/*")
    )
    assert decide([identity], [], request("s3:GetObject", "arn:aws:s3:::b/k")).allowed
    refused = decide([identity], [], request("s3:DeleteObject", "arn:aws:s3:::b/k"))
    assert not refused.allowed and "explicit deny in an identity-based policy" in refused.reason


def test_a_deny_in_a_bucket_policy_wins_over_an_identity_allow():
    identity = policy(allow("s3:PutObject", "arn:aws:s3:::b/*"))
    bucket = policy({**deny("s3:*", "arn:aws:s3:::b/*"), "Principal": "*"})
    refused = decide([identity], [bucket], request("s3:PutObject", "arn:aws:s3:::b/k"))
    assert not refused.allowed and "explicit deny in a resource-based policy" in refused.reason


def test_within_one_account_a_resource_policy_naming_the_role_allows_on_its_own():
    # "Within an account, an allow in either an identity-based or resource-based policy ..."
    bucket = policy({**allow("s3:GetObject", "arn:aws:s3:::b/*"), "Principal": {"AWS": ROLE}})
    assert decide([], [bucket], request("s3:GetObject", "arn:aws:s3:::b/k")).allowed


def test_a_resource_policy_naming_the_account_delegates_to_identity_policies():
    bucket = policy(
        {
            **allow("s3:GetObject", "arn:aws:s3:::b/*"),
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        }
    )
    assert not decide([], [bucket], request("s3:GetObject", "arn:aws:s3:::b/k")).allowed
    identity = policy(allow("s3:GetObject", "arn:aws:s3:::b/*"))
    assert decide([identity], [bucket], request("s3:GetObject", "arn:aws:s3:::b/k")).allowed


# --- Action, NotAction (reference_policies_elements_action.html, _notaction.html) ---------
def test_actions_are_case_insensitive_and_take_wildcards():
    identity = policy(allow(["s3:get*", "sagemaker:Describe?odel"]))
    assert decide([identity], [], request("s3:GetObjectVersion", "*")).allowed
    assert decide([identity], [], request("sagemaker:DescribeModel", "*")).allowed
    assert not decide([identity], [], request("s3:PutObject", "*")).allowed


def test_not_action_allows_everything_but_iam():
    # NotAction example: "Allow ... all actions except IAM" ("NotAction": "iam:*")
    identity = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert decide([identity], [], request("s3:ListBucket", "arn:aws:s3:::b")).allowed
    assert not decide([identity], [], request("iam:CreateUser", "*")).allowed


# --- Resource (reference_policies_elements_resource.html) ---------------------------------
@pytest.mark.parametrize(
    "pattern,arn,matches",
    [
        ("arn:aws:s3:::amzn-s3-demo-bucket/*", "arn:aws:s3:::amzn-s3-demo-bucket/a/b/c.txt", True),
        ("arn:aws:s3:::amzn-s3-demo-bucket/*", "arn:aws:s3:::amzn-s3-demo-bucket", False),
        # "If the * wildcard is the last character of a resource ARN segment, it can expand
        # to match beyond the colon boundaries."
        (
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs:*",
            "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/TrainingJobs:log-stream:j/algo-1",
            True,
        ),
        # a wildcard in the account segment stays in it
        ("arn:aws:iam::*:role/x", "arn:aws:iam::123456789012:role/x", True),
        ("arn:aws:iam::1*:role/x", "arn:aws:iam::123456789012:role/y", False),
        (
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/m-?",
            "arn:aws:sagemaker:us-east-1:123456789012:endpoint/m-1",
            True,
        ),
        # a policy scoped to ARNs does not match the "*" an action without resources has
        ("arn:aws:sagemaker:us-east-1:123456789012:model-package/m/*", "*", False),
        ("*", "*", True),
    ],
)
def test_resource_arns_match_segment_by_segment(pattern, arn, matches):
    assert arn_like(pattern, arn) is matches


def test_not_resource_excludes():
    identity = policy({"Effect": "Allow", "Action": "s3:*", "NotResource": "arn:aws:s3:::secret/*"})
    assert decide([identity], [], request("s3:GetObject", "arn:aws:s3:::open/k")).allowed
    assert not decide([identity], [], request("s3:GetObject", "arn:aws:s3:::secret/k")).allowed


# --- Condition operators (reference_policies_elements_condition_operators.html) ------------
def test_bool_secure_transport_as_in_the_s3_tls_only_policy():
    # Amazon S3 User Guide, "Enforce encryption in transit": Deny when aws:SecureTransport false
    bucket = policy(
        {
            **deny("s3:*", ["arn:aws:s3:::b", "arn:aws:s3:::b/*"]),
            "Principal": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    )
    identity = policy(allow("s3:GetObject", "arn:aws:s3:::b/*"))
    plain = request("s3:GetObject", "arn:aws:s3:::b/k", aws__SecureTransport="false")
    tls = request("s3:GetObject", "arn:aws:s3:::b/k", aws__SecureTransport="true")
    assert not decide([identity], [bucket], plain).allowed
    assert decide([identity], [bucket], tls).allowed


def test_null_as_in_the_s3_enforce_conditional_writes_policy():
    # Amazon S3 User Guide, "Enforce conditional writes on Amazon S3 buckets"
    bucket = policy(
        {
            **deny("s3:PutObject", "arn:aws:s3:::b/*"),
            "Principal": "*",
            "Condition": {"Null": {"s3:if-none-match": "true"}},
        }
    )
    identity = policy(allow("s3:PutObject", "arn:aws:s3:::b/*"))
    assert not decide([identity], [bucket], request("s3:PutObject", "arn:aws:s3:::b/k")).allowed
    create_only = request("s3:PutObject", "arn:aws:s3:::b/k", s3__if_none_match="*")
    assert decide([identity], [bucket], create_only).allowed


def test_string_equals_pass_role_to_one_service():
    # IAM User Guide, "Grant a user permissions to pass a role to an AWS service":
    # "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}}
    identity = policy(
        allow(
            "iam:PassRole",
            "arn:aws:iam::123456789012:role/sagemaker",
            Condition={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        )
    )
    role = "arn:aws:iam::123456789012:role/sagemaker"
    ok = request("iam:PassRole", role, iam__PassedToService="sagemaker.amazonaws.com")
    other = request("iam:PassRole", role, iam__PassedToService="lambda.amazonaws.com")
    assert decide([identity], [], ok).allowed
    assert not decide([identity], [], other).allowed


def test_a_missing_key_fails_a_positive_operator_and_passes_a_negated_one():
    # "If the key that you specify in a policy condition is not present in the request
    # context, the values do not match and the condition is false. If the policy condition
    # requires that the key is not matched, such as StringNotLike or ArnNotLike, and the
    # right key is not present, the condition is true."
    assert not condition_holds("StringEquals", "cloudwatch:namespace", ["ImageMLOps"], {})
    assert condition_holds("StringNotLike", "cloudwatch:namespace", ["Other*"], {})
    assert condition_holds("ArnNotLike", "aws:sourcearn", ["arn:aws:sns:*"], {})


def test_if_exists_holds_when_the_key_is_absent():
    # "StringLikeIfExists": {"ec2:InstanceType": ["t1.*", "t2.*", "m3.*"]}
    assert condition_holds("StringLikeIfExists", "ec2:instancetype", ["t1.*", "t2.*"], {})
    keys = {"ec2:instancetype": ["m5.large"]}
    assert not condition_holds("StringLikeIfExists", "ec2:instancetype", ["t1.*", "t2.*"], keys)


def test_numeric_and_date_and_ip_operators():
    # "NumericLessThanEquals": {"s3:max-keys": "10"}
    assert condition_holds("NumericLessThanEquals", "s3:max-keys", ["10"], {"s3:max-keys": ["5"]})
    assert not condition_holds(
        "NumericLessThanEquals", "s3:max-keys", ["10"], {"s3:max-keys": ["50"]}
    )
    # "DateGreaterThan": {"aws:TokenIssueTime": "2020-01-01T00:00:01Z"}
    issued = {"aws:tokenissuetime": ["2026-12-06T07:00:00Z"]}
    assert condition_holds(
        "DateGreaterThan", "aws:tokenissuetime", ["2020-01-01T00:00:01Z"], issued
    )
    # "NotIpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}
    inside = {"aws:sourceip": ["192.0.2.7"]}
    assert not condition_holds(
        "NotIpAddress", "aws:sourceip", ["192.0.2.0/24", "203.0.113.0/24"], inside
    )
    assert condition_holds(
        "NotIpAddress", "aws:sourceip", ["192.0.2.0/24"], {"aws:sourceip": ["127.0.0.1"]}
    )


def test_several_values_of_a_key_are_or_and_several_keys_are_and():
    block = {
        "StringEquals": {
            "aws:requestedregion": ["us-east-1", "eu-west-1"],
            "cloudwatch:namespace": "ImageMLOps",
        }
    }
    assert conditions_hold(
        block, {"aws:requestedregion": ["eu-west-1"], "cloudwatch:namespace": ["ImageMLOps"]}
    )
    assert not conditions_hold(
        block, {"aws:requestedregion": ["eu-west-1"], "cloudwatch:namespace": ["Other"]}
    )


def test_for_all_values_and_for_any_value():
    # "ForAllValues:StringEquals": {"aws:TagKeys": ["environment", "cost-center"]}
    allowed_keys = ["environment", "cost-center"]
    assert condition_holds(
        "ForAllValues:StringEquals", "aws:tagkeys", allowed_keys, {"aws:tagkeys": ["environment"]}
    )
    assert not condition_holds(
        "ForAllValues:StringEquals",
        "aws:tagkeys",
        allowed_keys,
        {"aws:tagkeys": ["environment", "owner"]},
    )
    assert condition_holds("ForAllValues:StringEquals", "aws:tagkeys", allowed_keys, {})  # absent
    assert condition_holds(
        "ForAnyValue:StringEquals",
        "aws:tagkeys",
        allowed_keys,
        {"aws:tagkeys": ["owner", "environment"]},
    )
    assert not condition_holds("ForAnyValue:StringEquals", "aws:tagkeys", allowed_keys, {})


def test_condition_keys_are_case_insensitive():
    block = {"StringEquals": {"CloudWatch:Namespace": "ImageMLOps"}}
    assert conditions_hold(block, {"cloudwatch:namespace": ["ImageMLOps"]})


def test_an_unknown_operator_is_an_error_not_a_silent_match():
    with pytest.raises(UnknownConditionOperator):
        condition_holds("StringSortOf", "k", ["v"], {"k": ["v"]})


# --- Principal (reference_policies_elements_principal.html) -------------------------------
def test_a_service_principal_in_a_trust_policy():
    trust = policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    )
    role = "arn:aws:iam::123456789012:role/image-mlops-sagemaker"
    as_service = RequestContext(
        "sts:AssumeRole", role, "sagemaker.amazonaws.com", ACCOUNT, (), "sagemaker.amazonaws.com"
    )
    other = RequestContext(
        "sts:AssumeRole", role, "lambda.amazonaws.com", ACCOUNT, (), "lambda.amazonaws.com"
    )
    assert decide([], [trust], as_service).allowed
    assert not decide([], [trust], other).allowed
